// Conformance tests for SEMANTICS §14 (BroadcastChannel) and the origin
// rules it relies on (§11.2's URL origin parsing, §14.5 scoping). Cross-
// context ordering between top-level contexts is made deterministic with the
// testkit; within a runtime, posts are causal as usual.

#include <catch2/catch.hpp>

#include <memory>

#include "entangle/testing/catch.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

// -- origins (§11.2 parsing, used by §14.5) ----------------------------------

TEST_CASE("11.2 an origin is parsed from an absolute URL: scheme and host "
          "lower-cased, default port, path, query and credentials ignored",
          "[sem11]") {
  auto a = origin::parse("https://HOST.Example//some/path?q#f");
  CHECK(a.serialize() == "https://host.example");
  CHECK(a == origin::parse("https://host.example:443"));
  CHECK(a != origin::parse("https://host.example:8443"));
  CHECK(a != origin::parse("http://host.example"));
  CHECK(origin::parse("http://user:pw@h:8080/").serialize() == "http://h:8080");
  CHECK(origin::parse("  http://[::1]:80/x").serialize() == "http://[::1]");
  CHECK_FALSE(a.is_opaque());
}

TEST_CASE("11.2 a string that is not an absolute URL is a SyntaxError",
          "[sem11]") {
  for (auto bad : {"example.org", "http://foo bar", "", "/", "://x",
                   "http://", "https://h:99999", "https://h:8x", "1http://h",
                   "http://[::1"}) {
    INFO(bad);
    CHECK(outcome([&] { origin::parse(bad); }) == "SyntaxError");
  }
}

TEST_CASE("11.2 non-special URLs give opaque origins, each distinct and "
          "serialized as null",
          "[sem11][sem14]") {
  auto d1 = origin::parse("data:text/html,hi");
  auto d2 = origin::parse("data:text/html,hi");
  CHECK(d1.is_opaque());
  CHECK(d1.serialize() == "null");
  CHECK(d1 != d2);
  auto copy = d1;
  CHECK(copy == d1);
  CHECK(origin::opaque() != origin::opaque());
}

TEST_CASE("a top-level context spawned with an unparsable origin is refused "
          "with SyntaxError before anything runs",
          "[sem11][context]") {
  harness h;
  CHECK(outcome([&] { h.rt->spawn("x", "not a url", [](context&) {}); })
        == "SyntaxError");
  CHECK(h.rt->live_contexts() == 0);
}

// -- §14 BroadcastChannel ----------------------------------------------------

TEST_CASE("14.1 any string names a channel, the empty one included; outside "
          "a context the constructor throws InvalidStateError",
          "[sem14]") {
  CHECK(outcome([] { broadcast_channel{"x"}; }) == "InvalidStateError");
  harness h;
  h.run([&](context&) {
    broadcast_channel empty{""}, named{"a b\n\xc3\xa9"};
    h.log.add("[" + empty.name() + "]");
    h.log.add(named.name());
  });
  CHECK(h.log.lines() == lines{"[]", "a b\n\xc3\xa9"});
  h.require_clean();
}

namespace {

/// Joins `name` in the running context and records every event at it into
/// `log` as "<tag>:<data>@<origin>".
broadcast_channel listen(const std::string& name, const std::string& tag,
                         std::shared_ptr<lines> log) {
  broadcast_channel bc{name};
  bc.on_message([tag, log](message_event& ev) {
    log->push_back(tag + ":" + label(ev) + "@" + ev.origin);
  });
  return bc;
}

} // namespace

TEST_CASE("14.3 a post reaches every other object with the same name and "
          "origin, in other contexts and in the sender's own, never the sender",
          "[sem14]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().spawn("page", "https://a.example", [&](context& page) {
    auto sender = listen("news", "sender", log);
    listen("news", "sibling", log);
    listen("sports", "other name", log);
    page.spawn("worker", [log](context&) { listen("news", "worker", log); });
    page.set_timeout([sender] { sender.post_message("hello"); },
                     std::chrono::milliseconds{1});
  });
  kit.run();
  kit.advance(std::chrono::milliseconds{1});
  CHECK(sorted(*log)
        == lines{"sibling:hello@https://a.example",
                 "worker:hello@https://a.example"});
}

TEST_CASE("14.3 destinations in one context are served in creation order, "
          "and one sender's posts arrive in order",
          "[sem14]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().spawn("receiver", "https://a.example", [log](context&) {
    listen("ch", "A", log);
    listen("ch", "B", log);
    listen("ch", "C", log);
  });
  kit.run();
  kit.rt().spawn("sender", "https://a.example", [](context&) {
    broadcast_channel bc{"ch"};
    bc.post_message(1);
    bc.post_message(2);
    bc.close();
  });
  kit.run();
  CHECK(*log
        == lines{"A:1@https://a.example", "B:1@https://a.example",
                 "C:1@https://a.example", "A:2@https://a.example",
                 "B:2@https://a.example", "C:2@https://a.example"});
}

TEST_CASE("14.3 after close() a post throws InvalidStateError before "
          "serializing; an unclonable message throws DataCloneError",
          "[sem14]") {
  harness h;
  h.run([&](context&) {
    broadcast_channel bc{"x"};
    message_channel ch;
    h.log.add(outcome([&] { bc.post_message(host_object{"function"}); }));
    h.log.add(outcome([&] { bc.post_message(value{ch.port1()}); }));
    bc.close();
    bc.close(); // idempotent
    h.log.add(outcome([&] { bc.post_message(host_object{"function"}); }));
    h.log.add(outcome([&] { bc.post_message(1); }));
    h.log.add(bc.closed() ? "closed" : "open");
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "InvalidStateError",
                 "InvalidStateError", "closed"});
  h.require_clean();
}

TEST_CASE("14.3 a closing context posts nothing and throws nothing, even on a "
          "closed channel",
          "[sem14]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().spawn("rx", "https://a.example",
                 [log](context&) { listen("ch", "rx", log); });
  kit.run();
  std::string result = "not run";
  kit.rt().spawn("tx", "https://a.example", [&](context& self) {
    broadcast_channel bc{"ch"};
    bc.close();
    self.close(); // not eligible any more: checked before "closed"
    result = outcome([&] { bc.post_message(1); });
  });
  kit.run();
  CHECK(result == "ok");
  CHECK(log->empty());
}

TEST_CASE("14.2 a post from a closing context is counted as an ineligible "
          "drop, once per destination it would have reached",
          "[sem14]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().spawn("rx", "https://a.example", [log](context&) {
    listen("ch", "rx1", log);
    listen("ch", "rx2", log);
  });
  kit.rt().spawn("elsewhere", "https://b.example",
                 [log](context&) { listen("ch", "b", log); });
  kit.run();
  kit.rt().spawn("tx", "https://a.example", [](context& self) {
    broadcast_channel bc{"ch"};
    broadcast_channel own{"ch"}; // a destination too, in the closing context
    self.close();
    bc.post_message("lost");           // 3 destinations: rx1, rx2, own
    bc.post_message(host_object{"fn"}); // not even serialized: no throw
    broadcast_channel{"nobody"}.post_message(1); // no destination, no drop
  });
  kit.run();
  CHECK(log->empty());
  CHECK(kit.drops()[drop_reason::ineligible] == 6);
  CHECK(kit.drops().total() == 6);
}

TEST_CASE("14.4 close() is checked at delivery: closing after a post stops "
          "its delivery, and an object created later only sees later posts",
          "[sem14]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.spawn("solo", [log](context& self) {
    broadcast_channel sender{"ch"};
    auto early = listen("ch", "early", log);
    auto closer = listen("ch", "closer", log);
    sender.post_message("m1");
    closer.close(); // m1 is already queued for it: dropped at delivery
    auto late = listen("ch", "late", log);
    sender.post_message("m2");
    self.queue_task([=] {
      sender.close();
      early.close();
      late.close();
    });
  });
  kit.run();
  CHECK(sorted(*log)
        == lines{"early:m1@null", "early:m2@null", "late:m2@null"});
  CHECK(kit.drops()[drop_reason::closed] == 1);
  CHECK(kit.live_contexts() == 0);
}

TEST_CASE("14.4 closing from inside a handler stops the deliveries already "
          "queued for that object",
          "[sem14]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.spawn("solo", [log](context&) {
    broadcast_channel sender{"ch"};
    broadcast_channel rx{"ch"};
    rx.on_message([rx, log](message_event& ev) {
      log->push_back(label(ev));
      rx.close();
    });
    for (auto m : {"m1", "m2", "m3"})
      sender.post_message(m);
    sender.close();
  });
  kit.run();
  CHECK(*log == lines{"m1"});
  // m2 and m3 were queued for rx: dropped at delivery (closed) or, if the
  // context ended first, with it (context_gone) -- never silently.
  CHECK(kit.drops().total() == 2);
  CHECK(kit.live_contexts() == 0);
}

TEST_CASE("14.5 messages never cross origins; opaque origins match only "
          "themselves, yet objects inside one opaque context talk",
          "[sem14]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().spawn("a", "https://a.example", [log](context&) {
    listen("ch", "a", log);
  });
  kit.rt().spawn("same origin, other spelling", "HTTPS://A.example:443/p",
                 [log](context&) { listen("ch", "a2", log); });
  kit.rt().spawn("b", "https://b.example",
                 [log](context&) { listen("ch", "b", log); });
  kit.spawn("opaque1", [log](context&) { listen("ch", "opaque1", log); });
  kit.run();
  kit.rt().spawn("poster", "https://a.example", [](context&) {
    broadcast_channel{"ch"}.post_message("from a");
  });
  kit.spawn("opaque2", [log](context&) {
    broadcast_channel bc{"ch"};
    listen("ch", "opaque2 sibling", log);
    bc.post_message("from opaque2");
  });
  kit.run();
  CHECK(sorted(*log)
        == lines{"a2:from a@https://a.example", "a:from a@https://a.example",
                 "opaque2 sibling:from opaque2@null"});
}

TEST_CASE("14.3 each destination gets a fresh copy: buffers are not shared "
          "between destinations nor with the sender",
          "[sem14][sem5]") {
  harness h;
  h.run([&](context&) {
    array_buffer buf{bytes{1, 2, 3}};
    broadcast_channel sender{"ch"}, a{"ch"}, b{"ch"};
    auto got = std::make_shared<std::vector<array_buffer>>();
    auto handler = [got, a, b, sender, buf, &h](message_event& ev) {
      got->push_back(ev.data.get<array_buffer>());
      if (got->size() == 2) {
        h.log.set("distinct", !(*got)[0].same_buffer((*got)[1])
                                      && !(*got)[0].same_buffer(buf)
                                    ? "yes"
                                    : "no");
        h.log.set("bytes", (*got)[1].bytes() == bytes{1, 2, 3} ? "same"
                                                               : "differ");
        h.log.set("sender kept", buf.byte_length() == 3 ? "yes" : "no");
        a.close();
        b.close();
        sender.close();
      }
    };
    a.on_message(handler);
    b.on_message(handler);
    sender.post_message(buf);
  });
  CHECK(h.log.get("distinct") == "yes");
  CHECK(h.log.get("bytes") == "same");
  CHECK(h.log.get("sender kept") == "yes");
  h.require_clean();
}

TEST_CASE("14.6 an open channel with a handler keeps its context alive until "
          "it is closed",
          "[sem14][context]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  auto first_id = kit.spawn("listener", [log](context&) {
    broadcast_channel bc{"bye"};
    bc.on_message([bc, log](message_event& ev) {
      log->push_back("got " + label(ev));
      bc.close(); // nothing keeps the context alive any more
    });
  });
  kit.run();
  CHECK(kit.live_contexts() == 1); // waiting, with nothing else to do
  kit.inject(first_id, [] { broadcast_channel{"bye"}.post_message("now"); });
  kit.run();
  CHECK(*log == lines{"got now"});
  CHECK(kit.live_contexts() == 0);
}

TEST_CASE("14.3 a receiver that cannot deserialize gets messageerror with the "
          "sender's origin",
          "[sem14][sem9]") {
  testkit kit{[](runtime_config& cfg) { cfg.max_buffer_bytes = 4; }};
  auto log = std::make_shared<lines>();
  kit.rt().spawn("rx", "https://a.example", [log](context&) {
    broadcast_channel bc{"ch"};
    bc.on_messageerror([log](message_event& ev) {
      log->push_back(ev.type + "@" + ev.origin + " data=" + to_string(ev.data));
    });
  });
  kit.run();
  kit.rt().spawn("tx", "https://a.example", [](context&) {
    broadcast_channel{"ch"}.post_message(array_buffer{bytes(16, 0)});
  });
  kit.run();
  CHECK(*log == lines{"messageerror@https://a.example data=null"});
  CHECK(kit.drops()[drop_reason::messageerror] == 1);
}

TEST_CASE("a broadcast_channel used from a context that does not own it is "
          "inert",
          "[sem14][context]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  broadcast_channel stolen;
  kit.spawn("owner", [&](context&) {
    stolen = listen("ch", "owner", log);
  });
  kit.run();
  kit.spawn("thief", [&](context&) {
    stolen.post_message("forged"); // inert: not this context's object
    stolen.close();                // inert too
  });
  kit.run();
  CHECK(log->empty());
  CHECK_FALSE(stolen.closed());
}
