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
topology rpc_service_topology();
topology stream_flow_topology();
topology remote_pipeline_topology();
topology remote_chat_topology();

const std::vector<topology>& topologies() {
  static const std::vector<topology> all{
    mdn_basic_topology(),   mdn_multi_topology(),
    ping_pong_topology(),   pipeline_topology(),
    worker_pool_topology(), port_introduction_topology(),
    shared_chat_topology(), broadcast_topology(),
    relay_ring_topology(),  rpc_service_topology(),
    stream_flow_topology(),
    remote_pipeline_topology(), remote_chat_topology(),
  };
  return all;
}

const topology* find_topology(std::string_view name) {
  auto& all = topologies();
  auto i = std::find_if(all.begin(), all.end(),
                        [&](const topology& t) { return t.name == name; });
  return i == all.end() ? nullptr : &*i;
}

void end_checks(runtime& rt, outcome& out, std::string success) {
  expect(out, out.delivered == out.expected,
         fmt::format("{} messages delivered, expected {}", out.delivered,
                     out.expected));
  auto d = rt.drops();
  expect(out, d.total() == 0,
         fmt::format("{} messages were dropped", d.total()));
  expect(out, rt.live_ports() == 0,
         fmt::format("{} port records leaked", rt.live_ports()));
  for (auto& e : rt.exits())
    expect(out, e.kind == exit_kind::normal,
           fmt::format("context {} ended by {}{}{}", e.name, to_string(e.kind),
                       e.what.empty() ? "" : ": ", e.what));
  if (out.ok)
    out.verdict = std::move(success);
}

} // namespace entangle::examples
