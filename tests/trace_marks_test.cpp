// What a trace says about ports, closes, crashes, timers and RPC calls:
// port labels are the port ids (not one label for every port), a close
// counts only the messages it dropped (not the peer's close marker), a
// crash's what() reaches the trace and the graph and sequence diagram mark
// it, timers and RPC steps are slices named by what ran.

#include <algorithm>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "entangle/rpc.hpp"
#include "entangle/trace_recorder.hpp"
#include "support.hpp"

using namespace entangle;

namespace {

/// A trace_recorder that also keeps the raw hook arguments it was given.
class capture : public trace_recorder {
public:
  struct task {
    std::uint64_t context;
    std::string kind, name, detail;
    std::uint64_t id;
    long long delay_ms;
  };

  void on_entangle(const trace_port& ev) override {
    trace_recorder::on_entangle(ev);
    std::lock_guard<std::mutex> guard{mu_};
    pairs_.emplace_back(ev.port, ev.peer);
  }
  void on_close(const trace_close& ev) override {
    trace_recorder::on_close(ev);
    std::lock_guard<std::mutex> guard{mu_};
    closes_.push_back(ev);
  }
  void on_context_end(const trace_context& ev) override {
    trace_recorder::on_context_end(ev);
    std::lock_guard<std::mutex> guard{mu_};
    ends_.emplace_back(std::string{ev.name}, std::string{ev.how},
                       std::string{ev.what});
  }
  void on_task(const trace_task& ev) override {
    trace_recorder::on_task(ev);
    std::lock_guard<std::mutex> guard{mu_};
    tasks_.push_back(task{ev.context, std::string{ev.kind},
                          std::string{ev.name}, std::string{ev.detail}, ev.id,
                          static_cast<long long>(ev.delay.count())});
  }

  std::vector<std::pair<std::uint64_t, std::uint64_t>> pairs() const {
    std::lock_guard<std::mutex> guard{mu_};
    return pairs_;
  }
  std::vector<trace_close> closes() const {
    std::lock_guard<std::mutex> guard{mu_};
    return closes_;
  }
  std::vector<std::tuple<std::string, std::string, std::string>> ends() const {
    std::lock_guard<std::mutex> guard{mu_};
    return ends_;
  }
  std::vector<task> tasks() const {
    std::lock_guard<std::mutex> guard{mu_};
    return tasks_;
  }

  std::string json() const {
    std::ostringstream out;
    write_chrome_json(out);
    return out.str();
  }
  std::string dot() const {
    std::ostringstream out;
    write_dot(out);
    return out.str();
  }
  std::string mermaid() const {
    std::ostringstream out;
    write_mermaid(out);
    return out.str();
  }

private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> pairs_;
  std::vector<trace_close> closes_;
  std::vector<std::tuple<std::string, std::string, std::string>> ends_;
  std::vector<task> tasks_;
};

/// Runs `init` as context "page" of a runtime traced by a fresh capture.
std::shared_ptr<capture> traced(init_function init) {
  auto rec = std::make_shared<capture>();
  runtime_config cfg;
  cfg.warnings = false;
  cfg.tracer = rec;
  runtime rt{cfg};
  rt.spawn("page", std::move(init));
  REQUIRE(rt.run_for(std::chrono::seconds{30}));
  return rec;
}

/// Every match of group 1 of `re` in `text`.
std::vector<std::string> all_of(const std::string& text, const char* re) {
  std::regex rx{re};
  std::vector<std::string> out;
  for (auto i = std::sregex_iterator{text.begin(), text.end(), rx};
       i != std::sregex_iterator{}; ++i)
    out.push_back((*i)[1]);
  return out;
}

} // namespace

TEST_CASE("trace labels name each port by its id, and a transferred port "
          "keeps its label",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  auto rec = traced([](context& self) {
    auto w = self.spawn("echo", [](context& c) {
      c.on_message([](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_message([port](message_event& m) {
          port.post_message(m.data);
          port.close();
        });
      });
    });
    message_channel ch;
    auto port = ch.port1();
    w.post_message("port", {ch.port2()});
    port.on_message([](message_event&) {});
    port.on_close([](message_event&) { this_context().close(); });
    port.post_message(1);
  });
  // The worker's implicit pair and the channel: consecutive ids each.
  auto pairs = rec->pairs();
  REQUIRE(pairs.size() == 2);
  for (auto& [a, b] : pairs)
    CHECK(b == a + 1);
  auto channel = pairs.back();
  auto p1 = fmt::format("p{}", channel.first);
  auto p2 = fmt::format("p{}", channel.second);

  auto json = rec->json();
  auto transferred = all_of(json, R"re("name":"transfer".*"port":"(\w+)")re");
  REQUIRE(transferred == std::vector<std::string>{p2});
  // port2 delivers at the worker under the same label it left with; the
  // answer arrives at port1.
  auto delivered = all_of(json, R"re("name":"message".*"port":"(\w+)")re");
  CHECK(std::count(delivered.begin(), delivered.end(), p2) == 1);
  CHECK(std::count(delivered.begin(), delivered.end(), p1) == 1);
  std::set<std::string> labels;
  for (auto& l : all_of(json, R"re("port":"(\w+)")re"))
    labels.insert(l);
  CHECK(labels.size() >= 3); // port1, port2 and a worker port at least
  for (auto& l : labels)
    CHECK(std::regex_match(l, std::regex{"p[0-9]+|none"}));

  auto mmd = rec->mermaid();
  CHECK(mmd.find("transfers port " + p2 + "\n") != std::string::npos);
  CHECK(mmd.find("close event (port " + p1 + ")") != std::string::npos);
}

TEST_CASE("a close instant counts the messages it dropped, not the peer's "
          "close marker",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  std::uint64_t full = 0, empty = 0;
  drop_counts drops;
  {
    auto rec = std::make_shared<capture>();
    runtime_config cfg;
    cfg.warnings = false;
    cfg.tracer = rec;
    runtime rt{cfg};
    rt.spawn("page", [](context&) {
      // Three messages and the close marker wait in a never-started port2.
      message_channel a;
      for (int i = 0; i < 3; ++i)
        a.port1().post_message(i);
      a.port1().close();
      a.port2().close();
      // Only the close marker waits.
      message_channel b;
      b.port1().close();
      b.port2().close();
      this_context().close();
    });
    REQUIRE(rt.run_for(std::chrono::seconds{30}));
    drops = rt.drops();
    auto pairs = rec->pairs();
    REQUIRE(pairs.size() == 2);
    for (auto& c : rec->closes()) {
      if (c.port == pairs[0].second)
        full = c.dropped;
      if (c.port == pairs[1].second)
        empty = c.dropped;
    }
    auto json = rec->json();
    auto dropped = all_of(json, R"re("name":"close".*"dropped":(\d+))re");
    std::sort(dropped.begin(), dropped.end());
    CHECK(dropped == std::vector<std::string>{"0", "0", "0", "3"});
  }
  CHECK(full == 3);
  CHECK(empty == 0);
  CHECK(drops[drop_reason::closed] == 3); // the same count as the trace
}

TEST_CASE("a crash's what() is in the trace, and the graph and the sequence "
          "diagram mark the crashed context",
          "[tracing]") {
  if (!tracing_compiled_in())
    return;
  auto seen = std::make_shared<std::string>();
  auto rec = traced([seen](context& self) {
    auto w = self.spawn("disk", [](context& c) {
      c.on_message([](message_event&) {
        throw std::runtime_error("disk on fire");
      });
    });
    w.on_error([seen](message_event& ev) {
      *seen = ev.error;
      this_context().close();
    });
    w.post_message("write");
  });
  CHECK(*seen == "disk on fire");
  auto ends = rec->ends();
  CHECK(std::count(ends.begin(), ends.end(),
                   std::make_tuple(std::string{"disk"},
                                   std::string{"exception"},
                                   std::string{"disk on fire"}))
        == 1);
  CHECK(rec->totals().crashes == 1);
  auto json = rec->json();
  CHECK(json.find(R"("name":"crashed")") != std::string::npos);
  CHECK(json.find(R"("what":"disk on fire")") != std::string::npos);
  CHECK(json.find(R"("ended":"exception","error":"disk on fire")")
        != std::string::npos);
  auto dot = rec->dot();
  CHECK(dot.find("crashed: disk on fire\", fillcolor=\"#f8d7da\"")
        != std::string::npos);
  CHECK(rec->mermaid().find(": crashed (disk on fire)") != std::string::npos);
}

TEST_CASE("timers and RPC calls are traced by name", "[tracing]") {
  if (!tracing_compiled_in())
    return;
  auto rec = traced([](context& self) {
    message_channel ch;
    auto w = self.spawn("service", [](context& c) {
      c.on_message([](message_event& ev) {
        auto port = ev.ports.at(0);
        rpc::expose(port, {
                            {"add", [](double a, double b) { return a + b; }},
                            {"fail",
                             []() -> double {
                               throw std::runtime_error("no");
                             }},
                          });
        port.add_event_listener(
          "close", [](message_event&) { this_context().close(); });
      });
    });
    w.post_message("connect", {ch.port2()});
    auto kv = rpc::wrap(ch.port1());
    auto ticks = std::make_shared<int>(0);
    auto interval = std::make_shared<timer_id>(0);
    *interval = self.set_interval(
      [ticks, interval] {
        if (++*ticks == 2)
          this_context().clear_interval(*interval);
      },
      std::chrono::milliseconds{2});
    self.set_timeout(
      [kv] {
        kv.call("add", {2, 3}).then([kv](value&) {
          kv.call("fail", {}).then([](value&) {},
                                   [kv](const error_value&) { kv.release(); });
        });
      },
      std::chrono::milliseconds{5});
  });
  auto tasks = rec->tasks();
  auto has = [&](const char* kind, const char* name, const char* detail) {
    return std::count_if(tasks.begin(), tasks.end(), [&](const auto& t) {
      return t.kind == kind && t.name == name && t.detail == detail;
    });
  };
  CHECK(has("timeout", "", "") == 1);
  CHECK(has("interval", "", "") == 2);
  CHECK(has("rpc call", "add", "") == 1);
  CHECK(has("rpc method", "add", "returned") == 1);
  CHECK(has("rpc result", "add", "returned") == 1);
  CHECK(has("rpc call", "fail", "") == 1);
  CHECK(has("rpc method", "fail", "threw Error") == 1);
  CHECK(has("rpc result", "fail", "threw Error") == 1);
  std::set<std::uint64_t> callers, services;
  for (auto& t : tasks) {
    if (t.kind == "timeout")
      CHECK(t.delay_ms == 5);
    if (t.kind == "interval")
      CHECK(t.delay_ms == 2);
    (t.kind == "rpc method" ? services : callers).insert(t.context);
  }
  CHECK(callers.size() == 1); // the page: timers, calls and results
  CHECK(services.size() == 1);
  CHECK(callers != services);
  CHECK(rec->totals().tasks == tasks.size());

  auto json = rec->json();
  CHECK(json.find(R"("name":"timeout","cat":"task")") != std::string::npos);
  CHECK(json.find(R"("delay_ms":5)") != std::string::npos);
  CHECK(json.find(R"("name":"rpc method add","cat":"task")")
        != std::string::npos);
  CHECK(json.find(R"("detail":"threw Error")") != std::string::npos);
  auto mmd = rec->mermaid();
  CHECK(mmd.find(": rpc call add (call 1)\n") != std::string::npos);
  CHECK(mmd.find(": rpc method fail (call 2) threw Error\n")
        != std::string::npos);
  CHECK(mmd.find(": timeout ") != std::string::npos);
}
