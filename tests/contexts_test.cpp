// The context model (tag [context]): how contexts end (exit_kind) and what
// happens to their ports and to the messages still on their way. Also
// SEMANTICS §13.3 (what keeps a context alive); §13.1 and §13.4 are in
// close_test.cpp, misuse of handles and the drop counters in misuse_test.cpp.
//
// Context code never asserts (Catch2 is not thread-safe): it records into
// h.log, and the test body checks after the run.

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

// -- 13.3 pending work keeps a context alive ----------------------------------

TEST_CASE("13.3 a context waiting on a started port stays alive until its "
          "peer closes, then ends by itself",
          "[sem13][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto p1 = ch.port1();
    p1.on_message([&](message_event& m) { h.log.add("page got " + label(m)); });
    p1.on_close([&](message_event&) { h.log.add("page got close"); });
    auto closer = page.spawn("closer", [&](context& self) {
      self.on_message([](message_event& ev) {
        auto p = ev.ports.at(0);
        p.post_message("a");
        p.post_message("b");
        p.close();
        this_context().close();
      });
    });
    closer.post_message("take", {ch.port2()});
    // The page never closes itself: its started port and its worker keep
    // it alive until both are gone.
  });
  CHECK(h.log.lines() == lines{"page got a", "page got b", "page got close"});
  CHECK(exit_of(h, "main") == "normal");
  CHECK(exit_of(h, "closer") == "normal");
  h.require_clean_exits();
  CHECK(h.rt->exits().size() == 2);
  h.check_no_leaks();
}

TEST_CASE("a dedicated worker closes once its parent ended, even with ports "
          "still open (HTML permissible worker)",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([&](message_event& m) { h.log.add("w got " + label(m)); });
        h.log.add("w listening");
      });
    });
    // The page keeps port1 (never started) and ends; the worker still has a
    // started, entangled port2 but no owner any more: it closes.
    w.post_message("take", {ch.port2()});
    this_context().close();
  });
  CHECK(h.log.lines() == lines{"w listening"});
  CHECK(exit_of(h, "w") == "normal");
  h.require_clean_exits();
  h.check_no_leaks();
}

TEST_CASE("13.3 a started port keeps delivering after every handle to it was "
          "dropped",
          "[sem13]") {
  // No GC here: a port lives until it is closed or its context ends.
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        ev.ports.at(0).on_message([&](message_event& m) {
          h.log.add("w got " + label(m));
          this_context().post_message("ack");
        });
        ev.ports.clear(); // the last handle
        this_context().post_message("dropped");
      });
    });
    w.on_message([&, p1 = ch.port1()](message_event& m) {
      if (label(m) == "dropped")
        p1.post_message("ping");
      else
        this_context().close();
    });
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"w got ping"});
  h.require_clean();
}

// -- the context model --------------------------------------------------------

TEST_CASE("a context ends normally when nothing can reach it", "[context]") {
  harness h;
  h.run([&](context& self) {
    message_channel ch;
    ch.port1().post_message("never read"); // port2 is never started
    self.queue_task([&] { h.log.add("task ran"); });
    h.log.set("id", std::to_string(self.id()));
    h.log.set("name", self.name());
  });
  CHECK(h.log.lines() == lines{"task ran"});
  REQUIRE(h.rt->exits().size() == 1);
  auto e = h.rt->exits().front();
  CHECK(e.kind == exit_kind::normal);
  CHECK(e.name == "main");
  CHECK(h.log.get("name") == "main");
  CHECK(h.log.get("id") == std::to_string(e.id));
  CHECK(e.what.empty());
  CHECK(h.drops(drop_reason::context_gone) == 1);
  h.check_no_leaks();
}

TEST_CASE("an exception escaping init ends the context as exception and "
          "keeps what()",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [](context& self) {
      self.post_message("before the throw");
      throw std::runtime_error("boom in init");
    });
    for (auto s : {"never", "read", "here"})
      w.post_message(s); // the worker's port is never enabled
    w.on_message([&](message_event& m) { h.log.add("page got " + label(m)); });
    w.add_event_listener("close",
                         [&](message_event&) { h.log.add("page got close"); });
  });
  CHECK(h.log.lines() == lines{"page got before the throw", "page got close"});
  CHECK(h.drops(drop_reason::context_gone) == 3);
  CHECK(exit_of(h, "w") == "exception");
  CHECK(what_of(h, "w") == "boom in init");
  CHECK(exit_of(h, "main") == "normal");
  h.check_no_leaks();
}

TEST_CASE("an exception escaping a handler ends the context as exception and "
          "closes every port it owns",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        ev.ports.at(0).post_message("last words");
        throw std::logic_error("boom in handler");
      });
    });
    auto closes = std::make_shared<int>(0);
    auto on_close = [&, closes](std::string who) {
      return [&, closes, who](message_event&) {
        h.log.add(who + " got close");
        if (++*closes == 2)
          this_context().close();
      };
    };
    w.add_event_listener("close", on_close("worker"));
    ch.port1().on_message(
      [&](message_event& m) { h.log.add("port1 got " + label(m)); });
    ch.port1().on_close(on_close("port1"));
    w.post_message("take", {ch.port2()});
  });
  auto all = h.log.lines();
  CHECK(
    sorted(all)
    == lines{"port1 got close", "port1 got last words", "worker got close"});
  auto pos = [&](const std::string& s) {
    return std::find(all.begin(), all.end(), s) - all.begin();
  };
  CHECK(pos("port1 got last words") < pos("port1 got close"));
  CHECK(exit_of(h, "w") == "exception");
  CHECK(what_of(h, "w") == "boom in handler");
  h.check_no_leaks();
}

TEST_CASE("worker.terminate() ends the worker as terminated; peers get what "
          "it posted, then close",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([](message_event&) {}); // keeps the worker busy forever
        p.post_message("w1");
        p.post_message("w2");
        this_context().post_message("ready");
        this_context().post_message("after ready");
      });
    });
    w.on_message([&, w](message_event& m) {
      h.log.add("page got " + label(m));
      w.terminate();
      w.terminate(); // idempotent
    });
    ch.port1().on_message(
      [&](message_event& m) { h.log.add("port1 got " + label(m)); });
    ch.port1().on_close([&](message_event&) {
      h.log.add("port1 got close");
      this_context().close();
    });
    w.post_message("take", {ch.port2()});
  });
  auto all = h.log.lines();
  lines port1;
  std::copy_if(all.begin(), all.end(), std::back_inserter(port1),
               [](auto& l) { return l.rfind("port1", 0) == 0; });
  CHECK(port1 == lines{"port1 got w1", "port1 got w2", "port1 got close"});
  // No message event on the worker object after terminate() (HTML §12.4).
  CHECK(std::count(all.begin(), all.end(), "page got after ready") == 0);
  CHECK(exit_of(h, "w") == "terminated");
  CHECK(exit_of(h, "main") == "normal");
  h.check_no_leaks();
}

TEST_CASE("runtime::terminate(id) ends a context from outside as terminated "
          "and ignores unknown ids",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      h.log.set("worker id", std::to_string(self.id()));
      self.on_message([&](message_event& ev) {
        ev.ports.at(0).on_message([](message_event&) {});
        this_context().post_message("ready");
      });
    });
    h.log.set("handle id", std::to_string(w.id()));
    w.on_message([&, id = w.id()](message_event&) {
      h.rt->terminate(987654321); // unknown: ignored
      h.rt->terminate(id);
    });
    ch.port1().on_close([&](message_event&) {
      h.log.add("port1 got close");
      this_context().close();
    });
    ch.port1().start();
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.get("worker id") == h.log.get("handle id"));
  CHECK(h.log.lines() == lines{"port1 got close"});
  CHECK(exit_of(h, "w") == "terminated");
  CHECK(exit_of(h, "main") == "normal");
  h.check_no_leaks();
}

TEST_CASE("runtime::terminate(id) ends a top-level context that would never "
          "end by itself",
          "[context]") {
  harness h;
  auto id = h.rt->spawn("stuck", [](context&) {
    message_channel ch;
    ch.port1().on_message([](message_event&) {}); // its peer never posts
  });
  h.rt->terminate(id);
  h.wait();
  CHECK(exit_of(h, "stuck") == "terminated");
  h.check_no_leaks();
}

TEST_CASE("every way a context ends closes its ports after everything it "
          "posted",
          "[context][sem13]") {
  auto how = GENERATE(as<std::string>{}, "normal", "exception", "terminated");
  CAPTURE(how);
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&, how](context& self) {
      self.on_message([&, how](message_event& ev) {
        auto p = ev.ports.at(0);
        p.post_message("x");
        p.post_message("y");
        if (how == "normal")
          this_context().close();
        else if (how == "exception")
          throw std::runtime_error("planned");
        else
          this_context().post_message("terminate me");
      });
    });
    w.on_message([w](message_event&) { w.terminate(); });
    ch.port1().on_message([&](message_event& m) { h.log.add(label(m)); });
    ch.port1().on_close([&](message_event& m) {
      h.log.add(label(m));
      this_context().close();
    });
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"x", "y", "close"});
  CHECK(exit_of(h, "w") == how);
  CHECK(exit_of(h, "main") == "normal");
  h.check_no_leaks();
}

TEST_CASE("a context that dies while a port it sent is still in transit does "
          "not take that port with it",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    message_channel carrier; // its page end stays unread until w is gone
    auto w = page.spawn("w", [](context& self) {
      self.on_message([](message_event& ev) {
        message_channel mine;
        ev.ports.at(0).post_message("yours", {mine.port2()});
        mine.port1().post_message("hello");
        throw std::runtime_error("dies right after sending");
      });
    });
    w.add_event_listener("close", [&, c = carrier.port2()](message_event&) {
      h.log.add("worker gone");
      c.on_message([&](message_event& m) {
        auto p = m.ports.at(0);
        p.on_message([&](message_event& x) { h.log.add("got " + label(x)); });
        p.on_close([&](message_event&) {
          h.log.add("got close");
          this_context().close();
        });
      });
    });
    w.post_message("carrier", {carrier.port1()});
  });
  CHECK(h.log.lines() == lines{"worker gone", "got hello", "got close"});
  CHECK(exit_of(h, "w") == "exception");
  h.check_no_leaks();
}

// -- the runtime as a whole ---------------------------------------------------

TEST_CASE("run() returns only after every port record of the ended contexts "
          "is released",
          "[context]") {
  // The leak oracle must read 0 as soon as run() says everything ended:
  // wake-ups left in a dead context's mailbox hold records only weakly.
  int nonzero = 0;
  for (int i = 0; i < 100; ++i) {
    harness h;
    h.run([&](context& page) {
      message_channel ch;
      auto w = page.spawn("w", [](context& self) {
        self.on_message([](message_event& ev) {
          ev.ports.at(0).on_message(
            [](message_event&) { this_context().close(); });
        });
      });
      w.post_message("take", {ch.port2()});
      ch.port1().post_message("end");
    });
    if (h.rt->live_ports() != 0)
      ++nonzero;
  }
  CHECK(nonzero == 0);
}

TEST_CASE("a chain of workers ends once the top context closes",
          "[context]") {
  // HTML: a dedicated worker lives while one of its owners is alive and
  // needed; once the page is gone, the worker it spawned and that worker's
  // own worker are no longer needed, and nothing can reach them.
  harness h;
  h.run(
    [&](context& page) {
      page.spawn("w1", [&](context& self) {
        self.spawn("w2", [&](context&) { h.log.add("w2 ran"); });
        h.log.add("w1 ran");
      });
      this_context().close();
    });
  CHECK(sorted(h.log.lines()) == lines{"w1 ran", "w2 ran"});
  CHECK(h.rt->live_contexts() == 0);
}
