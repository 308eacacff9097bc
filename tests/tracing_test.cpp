// The tracing hooks and trace_recorder: a small traced topology, then the
// Chrome trace, the DOT graph and the Mermaid diagram checked for what
// they must hold (matched flows, one track per context, caps respected).
// tests/check_trace.py checks entangle-run's files with a real JSON parser.

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "entangle/trace_recorder.hpp"
#include "support.hpp"

using namespace entangle;

namespace {

// A page and a worker: the page transfers port2 to the worker, they
// ping-pong `rounds` times, the page closes its port and itself.
void traced_ping_pong(runtime& rt, int rounds) {
  rt.spawn("page", [rounds](context& self) {
    auto w = self.spawn("echo", [](context& c) {
      c.on_message([](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_message([port](message_event& m) {
          port.post_message(m.data.as_number() + 1);
        });
      });
    });
    message_channel ch;
    auto port = ch.port1();
    w.post_message("port", {ch.port2()});
    port.on_message([port, rounds](message_event& m) {
      if (m.data.as_number() >= 2 * rounds) {
        port.close();
        this_context().close();
        return;
      }
      port.post_message(m.data.as_number() + 1);
    });
    port.post_message(1);
  });
  REQUIRE(rt.run_for(std::chrono::seconds{30}));
}

std::shared_ptr<trace_recorder> run_traced(int rounds, trace_limits lim = {}) {
  auto rec = std::make_shared<trace_recorder>(lim);
  runtime_config cfg;
  cfg.tracer = rec;
  runtime rt{cfg};
  traced_ping_pong(rt, rounds);
  CHECK(rt.drops().total() == 0);
  return rec;
}

/// The "ph":"s"/"f" ids and the thread_name tids of a trace written one
/// event per line.
struct scanned {
  std::multiset<std::string> starts, finishes;
  std::map<std::string, int> named_tracks; // tid -> thread_name count
  std::set<std::string> used_tracks;       // tids of X slices
  std::size_t lines = 0;
};

scanned scan(const std::string& json) {
  static const std::regex ph{R"re("ph":"(\w)")re"},
    id{R"re("id":(\d+))re"}, tid{R"re("tid":(\d+))re"};
  scanned out;
  std::istringstream in{json};
  std::string line;
  while (std::getline(in, line)) {
    std::smatch p, i, t;
    if (!std::regex_search(line, p, ph))
      continue;
    ++out.lines;
    std::regex_search(line, t, tid);
    if (p[1] == "s" && std::regex_search(line, i, id))
      out.starts.insert(i[1]);
    if (p[1] == "f" && std::regex_search(line, i, id))
      out.finishes.insert(i[1]);
    if (p[1] == "M" && line.find("\"thread_name\"") != std::string::npos)
      ++out.named_tracks[t[1]];
    if (p[1] == "X")
      out.used_tracks.insert(t[1]);
  }
  return out;
}

} // namespace

TEST_CASE("a traced run records every post, delivery, transfer and close",
          "[tracing]") {
  if (!tracing_compiled_in()) {
    WARN("built with -Dtracing=false: nothing to check");
    return;
  }
  auto rec = run_traced(10);
  auto t = rec->totals();
  CHECK(t.contexts == 2);
  // The worker port message and 20 numbers, all delivered, plus close
  // events: the worker's port, and its implicit port when the page ends
  // (unless the worker ends on that one first).
  CHECK(t.posts == 21);
  CHECK(t.deliveries >= 21 + 1);
  CHECK(t.deliveries <= 21 + 2);
  CHECK(t.transfers == 1);
  CHECK(t.closes >= 2);
  CHECK(t.drops == 0);
  CHECK(t.events_dropped == 0);
}

TEST_CASE("the Chrome trace pairs every flow start with its finish and has "
          "one named track per context",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  auto rec = run_traced(5);
  std::ostringstream json;
  rec->write_chrome_json(json);
  auto s = scan(json.str());
  CHECK(s.starts.size() == 11); // every posted message was delivered
  CHECK(s.starts == s.finishes);
  // Tracks: the runtime (tid 0) and the two contexts, each named once.
  CHECK(s.named_tracks.size() == 3);
  for (auto& [tid, n] : s.named_tracks)
    CHECK(n == 1);
  for (auto& tid : s.used_tracks)
    CHECK(s.named_tracks.count(tid) == 1);
  CHECK(json.str().find("\"truncated\":false") != std::string::npos);
}

TEST_CASE("the trace keeps at most max_events events and says how many it "
          "cut",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  trace_limits lim;
  lim.max_events = 8;
  lim.max_sequence_messages = 3;
  auto rec = run_traced(20, lim);
  auto t = rec->totals();
  CHECK(t.events_kept == 8);
  CHECK(t.events_dropped > 0);
  CHECK(t.posts == 41); // counted past the cap
  std::ostringstream json, seq;
  rec->write_chrome_json(json);
  auto s = scan(json.str());
  CHECK(s.starts == s.finishes); // no dangling arrow at the cut
  CHECK(json.str().find("\"truncated\":true") != std::string::npos);
  CHECK(json.str().find(fmt::format("\"events_dropped\":{}",
                                    t.events_dropped))
        != std::string::npos);
  rec->write_mermaid(seq);
  auto text = seq.str();
  std::size_t arrows = 0;
  for (auto p = text.find("-)"); p != std::string::npos;
       p = text.find("-)", p + 2))
    ++arrows;
  CHECK(arrows <= 3);
  CHECK(text.find("more messages not shown") != std::string::npos);
}

TEST_CASE("the DOT graph has the contexts as nodes and the channel as an "
          "edge",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  auto rec = run_traced(2);
  std::ostringstream dot;
  rec->write_dot(dot);
  auto text = dot.str();
  CHECK(text.rfind("digraph entangle {", 0) == 0);
  CHECK(text.find("label=\"page\\n#") != std::string::npos);
  CHECK(text.find("label=\"echo\\n#") != std::string::npos);
  // The MessageChannel (one end transferred) and the worker's implicit pair.
  CHECK(text.find("label=\"channel\\n1 with a transferred end\"")
        != std::string::npos);
  CHECK(text.find("label=\"worker port\"") != std::string::npos);
  CHECK(text.find("port transfer") != std::string::npos);
  CHECK(text.find("dir=both") != std::string::npos);
}
