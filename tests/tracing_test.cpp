// The tracing hooks and trace_recorder: a small traced topology, then the
// Chrome trace, the DOT graph and the Mermaid diagram checked for what
// they must hold (matched flows, one track per context, caps respected).
// tests/check_trace.py checks entangle-run's files with a real JSON parser.

#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "entangle/trace_recorder.hpp"
#include "support.hpp"

using namespace entangle;

namespace {

// A worker that reads `n` messages from the port it is sent, then closes
// the port and itself; if `say_ready`, it posts "ready" to its parent once
// the port is started.
auto reader_of(int n, bool say_ready = false) {
  return [n, say_ready](context& c) {
    c.on_message([n, say_ready](message_event& ev) {
      auto port = ev.ports.at(0);
      auto got = std::make_shared<int>(0);
      port.on_message([port, got, n](message_event&) {
        if (++*got == n) {
          port.close();
          this_context().close();
        }
      });
      if (say_ready)
        this_context().post_message("ready");
    });
  };
}

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

namespace {

/// Keeps every delivery of user messages it is told about.
class delivery_log : public tracer {
public:
  explicit delivery_log(timestamps ts) : tracer(ts) {
  }
  void on_deliver(const trace_deliver& ev) override {
    if (ev.type != "message")
      return;
    std::lock_guard<std::mutex> guard{mu};
    seen.push_back(ev);
  }
  std::mutex mu;
  std::vector<trace_deliver> seen;
};

// `n` messages wait on port2 before it is moved to a worker, which then
// starts it: the worker dispatches them in one batch (n <= dispatch_batch).
std::vector<trace_deliver> queued_then_moved(tracer::timestamps ts, int n) {
  auto log = std::make_shared<delivery_log>(ts);
  runtime_config cfg;
  cfg.tracer = log;
  runtime rt{cfg};
  rt.spawn("page", [n](context& self) {
    auto w = self.spawn("sink", reader_of(n));
    message_channel ch;
    for (int i = 0; i < n; ++i)
      ch.port1().post_message(i);
    w.post_message("port", {ch.port2()});
    ch.port1().close();
  });
  REQUIRE(rt.run_for(std::chrono::seconds{30}));
  std::lock_guard<std::mutex> guard{log->mu};
  return log->seen;
}

} // namespace

TEST_CASE("a batch's deliveries count the queue down, each beginning where "
          "the last ended",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  constexpr int n = 40;
  auto seen = queued_then_moved(tracer::timestamps::yes, n);
  // The worker's "port" message came on its implicit port: port2's n
  // messages are the other port's.
  std::map<std::uint64_t, std::vector<trace_deliver>> by_port;
  for (auto& ev : seen)
    by_port[ev.port].push_back(ev);
  const std::vector<trace_deliver>* p2 = nullptr;
  for (auto& [port, evs] : by_port)
    if (evs.size() == std::size_t(n))
      p2 = &evs;
  REQUIRE(p2 != nullptr);
  auto& d = *p2;
  // Behind them: nothing, or port1's close if the page ended first.
  CHECK(d[0].queue_depth >= std::size_t(n - 1));
  CHECK(d[0].queue_depth <= std::size_t(n));
  for (int i = 0; i < n; ++i) {
    CHECK(d[i].queue_depth == d[0].queue_depth - i);
    CHECK(d[i].begin <= d[i].end);
    CHECK(d[i].begin != trace_clock::time_point{});
    if (i > 0) // one clock read per delivery within the batch
      CHECK(d[i].begin == d[i - 1].end);
  }
}

TEST_CASE("a tracer without timestamps gets every event with none",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  constexpr int n = 10;
  auto seen = queued_then_moved(tracer::timestamps::no, n);
  CHECK(seen.size() == std::size_t(n + 1)); // and the worker's "port"
  for (auto& ev : seen) {
    CHECK(ev.begin == trace_clock::time_point{});
    CHECK(ev.end == trace_clock::time_point{});
  }
}

namespace {

/// A producer streams `n` numbers to a worker (on another thread, as CAF
/// schedules it), which closes the port and itself after the last; the
/// producer closes its end after posting if `close_after`.
void stream_to_worker(runtime& rt, int n, bool close_after) {
  rt.spawn("producer", [n, close_after](context& self) {
    auto w = self.spawn("consumer", reader_of(n));
    message_channel ch;
    w.post_message("port", {ch.port2()});
    for (int i = 0; i < n; ++i)
      ch.port1().post_message(i);
    if (close_after)
      ch.port1().close();
  });
  REQUIRE(rt.run_for(std::chrono::seconds{30}));
}

/// A producer that floods a worker's port with the numbers 0..n-1 once
/// the worker has started it and said so: the receiver is busy while the
/// posts come, so they are handed over in groups (the post stage).
void flood_after_ready(runtime& rt, int n) {
  rt.spawn("producer", [n](context& self) {
    auto w = self.spawn("consumer", reader_of(n, true));
    message_channel ch;
    w.post_message("port", {ch.port2()});
    auto port = ch.port1();
    w.on_message([port, n](message_event&) {
      for (int i = 0; i < n; ++i)
        port.post_message(i);
    });
  });
  REQUIRE(rt.run_for(std::chrono::seconds{30}));
}

/// Keeps every post and every message delivery, by message id.
class flow_log : public tracer {
public:
  void on_post(const trace_post& ev) override {
    std::lock_guard<std::mutex> guard{mu};
    posts.emplace(ev.message, ev);
    ++post_calls;
  }
  void on_deliver(const trace_deliver& ev) override {
    if (ev.type != "message")
      return;
    std::lock_guard<std::mutex> guard{mu};
    deliveries.emplace(ev.message, ev);
  }
  std::mutex mu;
  std::map<std::uint64_t, trace_post> posts;
  std::map<std::uint64_t, trace_deliver> deliveries;
  std::size_t post_calls = 0;
};

/// Keeps the calls of the post hooks (single and grouped) in call order,
/// and the order of message deliveries.
class group_log : public tracer {
public:
  void on_post(const trace_post& ev) override {
    std::lock_guard<std::mutex> guard{mu};
    calls.push_back({ev});
  }
  void on_post_group(const trace_post_group& g) override {
    std::vector<trace_post> call;
    for (std::size_t i = 0; i < g.size; ++i)
      call.push_back(g.post(i));
    std::lock_guard<std::mutex> guard{mu};
    calls.push_back(std::move(call));
  }
  void on_deliver(const trace_deliver& ev) override {
    if (ev.type != "message")
      return;
    std::lock_guard<std::mutex> guard{mu};
    delivered.push_back(ev);
  }
  std::mutex mu;
  std::vector<std::vector<trace_post>> calls;
  std::vector<trace_deliver> delivered;
};

} // namespace

TEST_CASE("posts handed over together reach on_post_group once each, in post "
          "order, sharing their source and target",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  auto log = std::make_shared<group_log>();
  runtime_config cfg;
  cfg.tracer = log;
  runtime rt{cfg};
  constexpr int n = 20000;
  flood_after_ready(rt, n);
  std::lock_guard<std::mutex> guard{log->mu};
  // The flood's posts (numbers), in the order the hooks heard them: one
  // thread posted them all, so that is post order.
  std::vector<std::uint64_t> posted;
  std::set<std::uint64_t> ids;
  std::size_t groups = 0;
  std::uint64_t target = 0;
  for (auto& call : log->calls) {
    REQUIRE(!call.empty());
    if (std::string_view{call[0].type} != "number")
      continue;
    target = call[0].target_port;
    auto& first = call[0];
    for (std::size_t i = 0; i < call.size(); ++i) {
      auto& ev = call[i];
      CHECK(std::string_view{ev.type} == "number");
      CHECK(ev.queued);
      CHECK(ev.context == first.context);
      CHECK(ev.port == first.port);
      CHECK(ev.target_port == first.target_port);
      CHECK(ev.target_context == first.target_context);
      CHECK(ev.queue_depth == first.queue_depth + i);
      CHECK(ev.message != 0);
      ids.insert(ev.message);
      posted.push_back(ev.message);
    }
    if (call.size() > 1)
      ++groups;
  }
  // Each post heard once, by one hook or the other.
  CHECK(posted.size() == std::size_t(n));
  CHECK(ids.size() == std::size_t(n));
  // The receiver was busy for most of the flood: posts were grouped.
  CHECK(groups > 0);
  // Delivered in the order the hooks heard them posted (FIFO).
  std::vector<std::uint64_t> delivered;
  for (auto& d : log->delivered)
    if (d.port == target)
      delivered.push_back(d.message);
  CHECK(delivered == posted);
}

TEST_CASE("a post is an instant before its delivery begins, on two threads",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  // A ping-pong (one message in flight) and a stream (many queued): the
  // wake-up goes under the target's lock after the post's one clock read,
  // and the tracer hears of the post after that, maybe after the delivery.
  auto log = std::make_shared<flow_log>();
  runtime_config cfg;
  cfg.tracer = log;
  runtime rt{cfg};
  traced_ping_pong(rt, 200);
  constexpr int streamed = 2000;
  stream_to_worker(rt, streamed, true);
  std::lock_guard<std::mutex> guard{log->mu};
  CHECK(log->deliveries.size() >= std::size_t(400 + streamed));
  // Ids are unique across the posting threads (each takes them in blocks)
  // and never 0 (which means "none").
  CHECK(log->posts.size() == log->post_calls);
  CHECK(log->posts.count(0) == 0);
  std::size_t matched = 0;
  for (auto& [id, d] : log->deliveries) {
    auto p = log->posts.find(id);
    REQUIRE(p != log->posts.end());
    CHECK(p->second.begin == p->second.end);
    CHECK(p->second.begin != trace_clock::time_point{});
    CHECK(p->second.end <= d.begin);
    ++matched;
  }
  CHECK(matched == log->deliveries.size());
}

TEST_CASE("a recorder fed from two threads counts every event once and "
          "keeps at most max_events of them",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  // Posts and deliveries go to one buffer per thread, gathered when read:
  // the counts must add up across them, and the cap hold across them.
  constexpr int streamed = 5000;
  for (std::size_t cap : {std::size_t(100000), std::size_t(3000)}) {
    trace_limits lim;
    lim.max_events = cap;
    auto rec = std::make_shared<trace_recorder>(lim);
    runtime_config cfg;
    cfg.tracer = rec;
    runtime rt{cfg};
    stream_to_worker(rt, streamed, false);
    auto t = rec->totals();
    CHECK(t.posts == std::size_t(streamed + 1));
    // Every message, the close at the producer's end (and maybe the
    // implicit port's close).
    CHECK(t.deliveries >= std::size_t(streamed + 2));
    CHECK(t.deliveries <= std::size_t(streamed + 3));
    auto seen = t.posts + t.deliveries + t.transfers + t.closes;
    CHECK(t.events_kept + t.events_dropped == seen);
    CHECK(t.events_kept <= cap);
    if (cap < seen) {
      // Lanes take slots 256 at a time: a lane may end with part of its
      // last chunk unused (at most one chunk per thread).
      CHECK(t.events_kept + 256 * 8 >= cap);
    } else {
      CHECK(t.events_dropped == 0);
    }
    auto again = rec->totals(); // gathering twice counts nothing twice
    CHECK(again.posts == t.posts);
    CHECK(again.events_kept == t.events_kept);
    std::ostringstream json;
    rec->write_chrome_json(json);
    auto s = scan(json.str());
    CHECK(s.starts == s.finishes);
    CHECK(rec->totals().events_kept == t.events_kept);
  }
  // Posts handed over in groups (on_post_group) count one each, too: the flood,
  // the port's post and the consumer's "ready".
  auto rec = std::make_shared<trace_recorder>();
  runtime_config cfg;
  cfg.tracer = rec;
  runtime rt{cfg};
  flood_after_ready(rt, streamed);
  auto t = rec->totals();
  CHECK(t.posts == std::size_t(streamed + 2));
  CHECK(t.events_kept + t.events_dropped
        == t.posts + t.deliveries + t.transfers + t.closes);
}
