// A relay ring: N worker contexts are linked in a ring by MessageChannels.
// The page creates one more channel, keeps port1 ("home") and sends port2
// around the ring: every node that receives the travelling port posts
// "hop k" on it and transfers it to the next node. Messages posted by
// successive owners of the same port reach home in posting order (per-port
// FIFO survives every transfer); after M hops the last holder closes it.

#include <memory>
#include <vector>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::atomic<std::uint64_t> hops{0};
  std::atomic<bool> in_order{true};
  std::atomic<bool> closed_at_home{false};
};

// A ring node. Its worker port brings "link" = [from-previous, to-next]
// once, and the page starts the journey there too (hop 0 with the port).
// Afterwards the travelling port arrives on from-previous with the hop
// count so far.
void node(context& self, std::size_t index, std::size_t hops,
          progress& prog) {
  auto next = std::make_shared<message_port>();
  // Post "hop k" on the travelling port, then pass it on (or close it).
  auto relay = [next, index, hops](message_port token, std::size_t k) {
    token.post_message(value::obj({{"hop", k}, {"by", index}}));
    if (k == hops)
      token.close(); // home sees close after the last hop
    else
      next->post_message(static_cast<double>(k), {token});
  };
  self.on_message([next, relay, &prog](message_event& ev) {
    if (ev.data == value{"link"}) {
      auto prev = ev.ports.at(0);
      *next = ev.ports.at(1);
      prev.on_message([relay, &prog](message_event& m) {
        ++prog.delivered;
        relay(m.ports.at(0), static_cast<std::size_t>(m.data.as_number()) + 1);
      });
      return;
    }
    ++prog.delivered; // the journey starts here
    relay(ev.ports.at(0), 1);
  });
  // The ring comes down when the page ends (workers close with it).
}

void page(context& self, const params& p, std::shared_ptr<results> res,
          progress& prog) {
  auto nodes = p.size;
  auto hops = p.messages;
  bool v = p.verbose;
  std::vector<message_channel> links(nodes);
  std::vector<worker> ring;
  for (std::size_t i = 0; i < nodes; ++i)
    ring.push_back(self.spawn(fmt::format("node-{}", i),
                              [i, hops, &prog](context& c) {
                                node(c, i, hops, prog);
                              }));
  // links[i] goes from node i to node i+1 (mod N).
  for (std::size_t i = 0; i < nodes; ++i)
    ring[i].post_message("link", {links[(i + nodes - 1) % nodes].port2(),
                                  links[i].port1()});
  message_channel travel;
  auto home = travel.port1();
  home.on_message([res, nodes, &prog](message_event& m) {
    ++prog.delivered;
    auto k = static_cast<std::uint64_t>(m.data["hop"].as_number());
    auto by = static_cast<std::uint64_t>(m.data["by"].as_number());
    if (k != res->hops + 1 || by != (k - 1) % nodes)
      res->in_order = false;
    ++res->hops;
  });
  home.on_close([res, v](message_event&) {
    say(v, "the travelling port closed after {} hops", res->hops.load());
    res->closed_at_home = true;
    this_context().close(); // the ring nodes close with the page
  });
  say(v, "a ring of {} nodes; sending port2 on a {}-hop journey", nodes, hops);
  ring[0].post_message("start", {travel.port2()});
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.spawn("home", [&p, res, &prog](context& c) { page(c, p, res, prog); });
  outcome out;
  out.channels = 2 * p.size + 1; // ring links, worker pairs, the token
  out.expected = 2 * p.messages;
  if (!begin_checks(rt, p, prog, out))
    return out;
  expect(out, res->hops == p.messages,
         fmt::format("home saw {} hops, expected {}", res->hops.load(),
                     p.messages));
  expect(out, res->in_order, "hops reached home out of order");
  expect(out, res->closed_at_home, "home never saw the close");
  end_checks(rt, out,
             fmt::format("one port transferred {} times around {} "
                         "nodes; all hops reached home in order",
                         p.messages, p.size));
  return out;
}

} // namespace

topology relay_ring_topology() {
  return {"relay-ring",
          "relay ring: a port is transferred around N contexts; what each "
          "holder posts on it reaches home in order",
          "size: ring nodes; messages: hops; payload: unused",
          4, 40, run};
}

} // namespace entangle::examples
