// SEMANTICS §5.6: structured_clone(), the web's structuredClone global, runs
// the same serialization and deserialization synchronously in the current
// context; and BroadcastChannel deserializes one payload per destination.

#include "graph_support.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

TEST_CASE("5.6 structured_clone copies a graph: same shape, sharing and "
          "cycles, no object shared with the original",
          "[sem5]") {
  shared_object a;
  shared_array list{array{a, value::obj({{"again", a}})}};
  a.set("list", list);
  array_buffer b{bytes{1, 2, 3}};
  auto original = value::arr({list, typed_array{element_kind::uint8, b, 1},
                              b, value_map{{a, bigint{1000}}}});
  // Outside any context, then inside one.
  auto outside = structured_clone(original);
  CHECK(isomorphism{}(original, outside) == "");
  harness h;
  value inside;
  h.run([&](context&) { inside = structured_clone(original); });
  h.require_clean();
  CHECK(isomorphism{}(original, inside) == "");
  CHECK(isomorphism{}(outside, inside) == "");
  CHECK_FALSE(b.detached());
}

TEST_CASE("5.6 structured_clone with a transfer list moves the buffers into "
          "the result and detaches the originals",
          "[sem5]") {
  array_buffer b{bytes{4, 5}};
  typed_array view{element_kind::int8, b};
  auto got = structured_clone(value::obj({{"buf", b}, {"view", view}}), {b});
  CHECK(b.detached());
  CHECK(view.length() == 0);
  auto rb = got["buf"].get<array_buffer>();
  CHECK(rb.bytes() == bytes{4, 5});
  CHECK(got["view"].get<typed_array>().buffer().same_buffer(rb));
  // The options form, and a buffer that is not mentioned: lost, as on
  // the web.
  array_buffer lost{bytes{9}};
  auto x = structured_clone(1, structured_serialize_options{{lost}});
  CHECK(x.as_number() == 1);
  CHECK(lost.detached());
}

TEST_CASE("5.6 structured_clone transfers ports to new handles of the same "
          "ports; a transferred port the result does not mention is closed",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel kept, dropped;
    auto got = structured_clone(value::obj({{"port", kept.port1()}}),
                                {kept.port1(), dropped.port1()});
    auto p = got["port"].get<message_port>();
    h.log.add("old detached=" + yn(kept.port1().detached())
              + " new is other=" + yn(p != kept.port1())
              + " new detached=" + yn(p.detached()));
    kept.port2().on_message([&, kept](message_event& ev) {
      h.log.add("peer got " + label(ev));
      kept.port2().close();
    });
    dropped.port2().start(); // a close event waits for start(), too
    dropped.port2().on_close([&](message_event&) {
      h.log.add("dropped's peer got close");
    });
    p.post_message("through the new handle");
  });
  CHECK(sorted(h.log.lines())
        == lines{"dropped's peer got close",
                 "old detached=true new is other=true new detached=false",
                 "peer got through the new handle"});
  h.require_clean();
}

TEST_CASE("5.6 structured_clone throws as a post does and then changes "
          "nothing; outside a context it refuses ports",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    array_buffer b{bytes{1}};
    h.log.add(outcome([&] {
      structured_clone(value::arr({b, host_object{"function"}}), {b});
    }));
    h.log.add(outcome([&] { structured_clone(ch.port1()); }));
    h.log.add(outcome([&] { structured_clone(1, {message_port{}}); }));
    h.log.add("b=" + std::to_string(b.byte_length())
              + " port detached=" + yn(ch.port1().detached()));
    close_all({ch.port1(), ch.port2()});
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "type_error:TypeError",
                 "b=1 port detached=false"});
  h.require_clean();
  CHECK(outcome([] { structured_clone(host_object{}); }) == "DataCloneError");
}

TEST_CASE("5.6 structured_clone throws DataCloneError when the context "
          "refuses the buffers (max_buffer_bytes)",
          "[sem5]") {
  harness h{[](runtime_config& cfg) { cfg.max_buffer_bytes = 4; }};
  h.run([&](context&) {
    array_buffer small{bytes{1, 2}}, big{bytes{1, 2, 3, 4, 5}};
    h.log.add(outcome([&] { structured_clone(small); }));
    h.log.add(outcome([&] { structured_clone(value::arr({big})); }));
  });
  CHECK(h.log.lines() == lines{"ok", "DataCloneError"});
  h.require_clean();
}

TEST_CASE("5.6 BroadcastChannel delivers a graph to each destination as its "
          "own copy, sharing and cycles kept",
          "[sem5]") {
  harness h;
  shared_object root;
  root.set("self", root);
  array_buffer b{bytes{7}};
  auto sent = value::arr({root, b, typed_array{element_kind::uint8, b}});
  std::vector<value> got(2);
  h.rt->spawn("listener", [&](context& self) {
    for (int i = 0; i < 2; ++i) {
      broadcast_channel bc{"graphs"};
      bc.on_message([&, i, bc](message_event& ev) mutable {
        got[static_cast<std::size_t>(i)] = std::move(ev.data);
        bc.close();
        if (got[0].is_array() && got[1].is_array())
          this_context().close();
      });
    }
    self.spawn("poster", [&](context&) {
      broadcast_channel{"graphs"}.post_message(sent);
    });
  });
  h.wait();
  h.require_clean();
  for (auto& g : got)
    CHECK(isomorphism{}(sent, g) == "");
  CHECK(isomorphism{}(got[0], got[1]) == ""); // nothing shared between them
}
