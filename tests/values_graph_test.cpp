// SEMANTICS §5.2, identity within a message: shared references and cycles
// through shared_object, shared_array, value_map and value_set; Map and
// Set order; sparse arrays; the depth limit through nodes. Then [graph]:
// how graph memory is freed (cycles, long chains, garbage in a live graph).

#include <cmath>

#include "graph_support.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

/// `n` shared_objects, each holding the next under "next".
shared_object chain(std::size_t n) {
  shared_object head;
  auto at = head;
  for (std::size_t i = 1; i < n; ++i) {
    shared_object next;
    at.set("next", next);
    at = next;
  }
  return head;
}

} // namespace

// -- §5.2 identity, sharing, cycles -------------------------------------------

TEST_CASE("5.2 an object reached twice arrives as one object reached twice, "
          "never one of the sender's",
          "[sem5]") {
  shared_object x{object{{"n", 1}}};
  auto got = clone_via_worker(value::arr({x, x, value::obj({{"again", x}})}));
  auto a = got[0].get<shared_object>();
  CHECK(a == got[1].get<shared_object>());
  CHECK(a == got[2]["again"].get<shared_object>());
  CHECK(a != x);
  a.set("n", 2); // one object: every path sees the change
  CHECK(got[1]["n"].as_number() == 2);
  CHECK(got[2]["again"]["n"].as_number() == 2);
  CHECK(x["n"].as_number() == 1);
}

TEST_CASE("5.2 a node shared by parents of every kind arrives shared by the "
          "same parents",
          "[sem5]") {
  shared_object leaf{object{{"leaf", true}}};
  shared_array arr{array{leaf, 1}};
  value_map map{{leaf, "as key"}, {"as value", leaf}};
  value_set set{leaf, 2};
  auto got = clone_via_worker(
    value::obj({{"plain", leaf}, {"arr", arr}, {"map", map}, {"set", set}}));
  auto l = got["plain"].get<shared_object>();
  CHECK(got["arr"][std::size_t{0}].get<shared_object>() == l);
  auto m = got["map"].get<value_map>();
  CHECK(m.begin()->first.get<shared_object>() == l);
  CHECK(m.at(l).as_string() == "as key"); // found by identity
  CHECK(m.at("as value").get<shared_object>() == l);
  auto s = got["set"].get<value_set>();
  CHECK(s.contains(l));
  CHECK_FALSE(s.contains(leaf)); // the sender's object is another one
  CHECK(isomorphism{}(
          value::obj({{"plain", leaf}, {"arr", arr}, {"map", map},
                      {"set", set}}),
          got)
        == "");
}

TEST_CASE("5.2 an object, an array, a Map and a Set that contain themselves "
          "arrive as cycles",
          "[sem5]") {
  shared_object o;
  o.set("self", o);
  shared_array a;
  a.push(a);
  value_map m;
  m.set(m, m);
  value_set s;
  s.add(s);
  auto got = clone_via_worker(value::arr({o, a, m, s}));
  auto go = got[0].get<shared_object>();
  CHECK(go["self"].get<shared_object>() == go);
  auto ga = got[1].get<shared_array>();
  CHECK(ga[0].get<shared_array>() == ga);
  auto gm = got[2].get<value_map>();
  CHECK(gm.at(gm).get<value_map>() == gm);
  auto gs = got[3].get<value_set>();
  CHECK(gs.contains(gs));
  CHECK(go != o);
  CHECK(to_string(got[0]) == "<ref *1> {self: [Circular *1]}");
}

TEST_CASE("5.2 a cycle through several objects arrives as the same cycle; "
          "two messages make two graphs",
          "[sem5]") {
  shared_object a, b, c;
  a.set("next", b);
  b.set("next", c);
  c.set("next", a);
  c.set("back", b);
  harness h;
  std::vector<value> got;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        got.push_back(std::move(ev.data));
        if (got.size() == 2)
          this_context().close();
      });
    });
    w.post_message(a);
    w.post_message(value::arr({b, a}));
  });
  h.require_clean();
  REQUIRE(got.size() == 2);
  auto ra = got[0].get<shared_object>();
  auto rb = ra["next"].get<shared_object>();
  auto rc = rb["next"].get<shared_object>();
  CHECK(rc["next"].get<shared_object>() == ra);
  CHECK(rc["back"].get<shared_object>() == rb);
  CHECK(ra != rb);
  CHECK(rb != rc);
  CHECK(isomorphism{}(value{a}, got[0]) == "");
  CHECK(isomorphism{}(value::arr({b, a}), got[1]) == "");
  // The second message's objects are its own.
  CHECK(got[1][1].get<shared_object>() != ra);
}

TEST_CASE("5.2 the guide's tree with parent links and an index keeps its "
          "shape across a post",
          "[sem5]") {
  harness h;
  h.run([&](context& page) {
    auto worker = page.spawn("worker", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto root = ev.data["tree"].get<shared_object>();
        auto& a = root["children"][0];
        bool cycle = a["parent"].get<shared_object>() == root;
        bool shared = ev.data["index"].get<value_map>().at("a") == a;
        h.log.add("cycle=" + yn(cycle) + " shared=" + yn(shared));
        for (auto& [name, node] : ev.data["index"].get<value_map>())
          h.log.add(name.as_string() + " -> " + node["name"].as_string());
        h.log.add(to_string(ev.data["tree"]));
        this_context().close();
      });
    });
    // The guide's code ("Graphs: shared references and cycles").
    shared_object root{object{{"name", "root"}}};
    shared_array children;
    root.set("children", children);
    for (const char* name : {"a", "b"}) {
      shared_object child{object{{"name", name}}};
      child.set("parent", root);
      children.push(child);
    }
    value_map index;
    index.set("root", root);
    index.set("a", children[0]);
    worker.post_message(value::obj({{"tree", root}, {"index", index}}));
  });
  CHECK(h.log.lines()
        == lines{"cycle=true shared=true", "root -> root", "a -> a",
                 "<ref *1> {children: [{name: \"a\", parent: [Circular *1]}, "
                 "{name: \"b\", parent: [Circular *1]}], name: \"root\"}"});
  h.require_clean();
}

// -- §5.2 Map and Set ---------------------------------------------------------

TEST_CASE("5.2 a Map keeps insertion order and keys of every kind",
          "[sem5]") {
  shared_object key_obj;
  value_map m;
  m.set("b", 1);
  m.set(2, "two");
  m.set(std::nan(""), "nan");
  m.set(-0.0, "zero");
  m.set(bigint::parse("123456789012345678901234567890"), "big");
  m.set(key_obj, "object key");
  m.set(value::obj({}), "plain key"); // a fresh object: never found again
  m.set("a", 0);
  m.set("b", 3); // an existing key keeps its place
  m.erase(2);
  m.set(2, "two again"); // re-added: now last
  CHECK(m.size() == 8);
  CHECK(m.at(0.0).as_string() == "zero"); // SameValueZero: -0 is 0
  CHECK(m.at(std::nan("")).as_string() == "nan");
  CHECK_FALSE(m.contains(value::obj({})));
  auto got = clone_via_worker(m).get<value_map>();
  lines order;
  for (auto& [k, v] : got)
    order.push_back(to_string(k) + "=" + to_string(v));
  CHECK(order
        == lines{"\"b\"=3", "NaN=\"nan\"", "0=\"zero\"",
                 "123456789012345678901234567890n=\"big\"",
                 "{}=\"object key\"", "{}=\"plain key\"", "\"a\"=0",
                 "2=\"two again\""});
  CHECK(got.at(bigint::parse("123456789012345678901234567890")).as_string()
        == "big");
  CHECK(isomorphism{}(value{m}, value{got}) == "");
}

TEST_CASE("5.2 a Set keeps insertion order and holds each value once "
          "(SameValueZero)",
          "[sem5]") {
  shared_object o;
  value_set s{3, "x", std::nan(""), std::nan(""), 0.0, -0.0, o, o};
  s.add(value::arr({})); // plain: a fresh object each time
  s.add(value::arr({}));
  CHECK(s.size() == 7);
  CHECK_FALSE(s.add("x"));
  s.erase(3);
  auto got = clone_via_worker(value::arr({s, o}));
  auto gs = got[0].get<value_set>();
  lines order;
  for (auto& v : gs)
    order.push_back(to_string(v));
  CHECK(order == lines{"\"x\"", "NaN", "0", "{}", "[]", "[]"});
  CHECK(gs.contains(got[1])); // the same object as the array's
}

// -- §5.2 sparse arrays -------------------------------------------------------

TEST_CASE("5.2 sparse arrays keep their length, holes and extra properties",
          "[sem5]") {
  shared_array a;
  a.set(0, "first");
  a.set(3, "fourth"); // holes at 1 and 2
  a.set(4000000000u, "far"); // length 4000000001 costs one element
  a.set_property("label", "extra");
  a.set_property("5", "index by name"); // a canonical index is an element
  a.set_length(4000000005u); // trailing holes
  auto got = clone_via_worker(a).get<shared_array>();
  CHECK(got.length() == 4000000005u);
  CHECK(got.elements().size() == 4);
  CHECK(got[0].as_string() == "first");
  CHECK_FALSE(got.has(1));
  CHECK(got[1].is_undefined()); // a hole reads as undefined
  CHECK(got[5].as_string() == "index by name");
  CHECK(got[4000000000u].as_string() == "far");
  CHECK(got.properties().size() == 1);
  CHECK(got.find_property("label")->as_string() == "extra");
  CHECK(to_string(value{got}).rfind(
          "[\"first\", <2 empty items>, \"fourth\", <1 empty item>", 0)
        == 0);
  CHECK_THROWS_AS(got.at(4000000005u), range_error);
  CHECK(isomorphism{}(value{a}, value{got}) == "");
}

// -- §5.3 depth ---------------------------------------------------------------

TEST_CASE("5.3 max_clone_depth counts nesting through graph nodes",
          "[sem5]") {
  harness h{[](runtime_config& cfg) { cfg.max_clone_depth = 50; }};
  h.run([&](context&) {
    message_channel ch;
    auto p = ch.port1();
    // 52 objects nest the last at depth 51.
    h.log.add(outcome([&] { p.post_message(chain(52)); }));
    h.log.add(outcome([&] { p.post_message(chain(51)); }));
    shared_object self; // a cycle is as deep as its longest simple path
    self.set("self", self);
    h.log.add(outcome([&] { p.post_message(self); }));
    close_all({ch.port1(), ch.port2()});
  });
  CHECK(h.log.lines() == lines{"DataCloneError", "ok", "ok"});
  h.require_clean();
}

// -- graph memory -------------------------------------------------------------

TEST_CASE("graph memory: a cycle nothing outside references is freed at once",
          "[graph]") {
  auto before = live_graph_nodes();
  {
    shared_object a, b;
    value_map m;
    a.set("b", b);
    b.set("a", a);
    b.set("m", m);
    m.set(a, b);
    CHECK(live_graph_nodes() == before + 3);
  } // the last external handles go: the whole graph goes
  CHECK(live_graph_nodes() == before);
}

TEST_CASE("graph memory: a chain of 200000 nodes is freed without recursion",
          "[graph]") {
  auto before = live_graph_nodes();
  {
    auto head = chain(200000);
    CHECK(live_graph_nodes() == before + 200000);
    CHECK(to_string(head).size() < 10000); // rendering stops at a depth
  }
  CHECK(live_graph_nodes() == before);
}

TEST_CASE("graph memory: garbage inside a graph that is still held is "
          "collected as the graph grows",
          "[graph]") {
  auto before = live_graph_nodes();
  shared_object root;
  for (int i = 0; i < 5000; ++i) {
    shared_object a, b; // a two-node cycle, replacing the previous one
    a.set("b", b);
    b.set("a", a);
    root.set("current", a);
  }
  // Each replaced pair is unreachable; a collection runs whenever the
  // graph has doubled since the last one, so garbage stays bounded.
  CHECK(live_graph_nodes() - before < 200);
  collect_graph(root);
  CHECK(live_graph_nodes() - before == 3);
  CHECK(root["current"]["b"]["a"].get<shared_object>()
        == root["current"].get<shared_object>());
}

TEST_CASE("graph memory: linking two graphs makes one that lives while "
          "either is held",
          "[graph]") {
  auto before = live_graph_nodes();
  shared_array outer;
  {
    shared_object inner;
    inner.set("up", outer); // inner's graph and outer's merge
    outer.push(inner);
  }
  CHECK(live_graph_nodes() == before + 2);
  CHECK(outer[0]["up"].get<shared_array>() == outer);
  outer.erase(0); // inner is garbage now, freed at the next collection
  collect_graph(outer);
  CHECK(live_graph_nodes() == before + 1);
}
