#include <algorithm>

#include "common.hpp"
#include "topology.hpp"

namespace entangle::examples {

// One function per topology, each in its own file.
topology mdn_basic_topology();
topology mdn_multi_topology();
topology ping_pong_topology();
topology pipeline_topology();
topology worker_pool_topology();
topology port_introduction_topology();
topology shared_chat_topology();
topology broadcast_topology();
topology relay_ring_topology();

const std::vector<topology>& topologies() {
  static const std::vector<topology> all{
    mdn_basic_topology(),   mdn_multi_topology(),
    ping_pong_topology(),   pipeline_topology(),
    worker_pool_topology(), port_introduction_topology(),
    shared_chat_topology(), broadcast_topology(),
    relay_ring_topology(),
  };
  return all;
}

const topology* find_topology(std::string_view name) {
  auto& all = topologies();
  auto i = std::find_if(all.begin(), all.end(),
                        [&](const topology& t) { return t.name == name; });
  return i == all.end() ? nullptr : &*i;
}

void check_clean(runtime& rt, outcome& out) {
  auto d = rt.drops();
  expect(out, d.total() == 0,
         fmt::format("{} messages were dropped", d.total()));
  expect(out, rt.live_ports() == 0,
         fmt::format("{} port records leaked", rt.live_ports()));
  for (auto& e : rt.exits())
    expect(out, e.kind == exit_kind::normal,
           fmt::format("context {} ended by {}{}{}", e.name, to_string(e.kind),
                       e.what.empty() ? "" : ": ", e.what));
}

} // namespace entangle::examples
