// The public API of include/entangle/remote.hpp.

#include "entangle/remote.hpp"

#include <caf/actor_cast.hpp>
#include <caf/io/middleman.hpp>
#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "remote/node.hpp"

namespace entangle::remote {

namespace {

[[noreturn]] void syntax(std::string_view url, const char* why) {
  throw dom_exception(std::string{error_name::syntax},
                      fmt::format("'{}' is not an entangle:// URL: {}", url,
                                  why));
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~'
         || c == '-';
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 200)
    return false;
  for (char c : name)
    if (!name_char(c))
      return false;
  return true;
}

} // namespace

endpoint_url endpoint_url::parse(std::string_view url) {
  constexpr std::string_view scheme = "entangle://";
  if (url.substr(0, scheme.size()) != scheme)
    syntax(url, "the scheme must be entangle://");
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    syntax(url, "no /name after host:port");
  auto authority = rest.substr(0, slash);
  auto name = rest.substr(slash + 1);
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    syntax(url, "expected host:port");
  auto host = authority.substr(0, colon);
  for (char c : host)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9') || c == '.' || c == '-'))
      syntax(url, "bad host");
  auto digits = authority.substr(colon + 1);
  if (digits.empty() || digits.size() > 5)
    syntax(url, "bad port");
  unsigned long port = 0;
  for (char c : digits) {
    if (c < '0' || c > '9')
      syntax(url, "bad port");
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port == 0 || port > 65535)
    syntax(url, "the port must be 1..65535");
  if (!valid_name(name))
    syntax(url, "the name must be 1-200 of A-Z a-z 0-9 . _ ~ -");
  endpoint_url u;
  u.host = std::string{host};
  u.port = static_cast<std::uint16_t>(port);
  u.name = std::string{name};
  return u;
}

std::string endpoint_url::to_string() const {
  return fmt::format("entangle://{}:{}/{}", host, port, name);
}

std::uint16_t listen(runtime& rt, std::uint16_t port,
                     const std::string& host) {
  auto& w = detail::world_of(rt);
  auto st = detail::remote::node_state::of(w);
  auto res = w.system.middleman().publish(st->actor, port, host.c_str());
  if (!res)
    throw dom_exception("NetworkError",
                        fmt::format("cannot listen on {}:{}: {}", host, port,
                                    w.system.render(res.error())));
  st->listening = *res;
  {
    std::lock_guard<std::mutex> guard{st->mu};
    st->listen_key = fmt::format("{}:{}", host, *res);
  }
  return *res;
}

void offer(runtime& rt, const std::string& name, std::uint64_t context_id) {
  if (!valid_name(name))
    throw dom_exception(std::string{error_name::syntax},
                        fmt::format("'{}' is not a service name (1-200 of "
                                    "A-Z a-z 0-9 . _ ~ -)",
                                    name));
  auto st = detail::remote::node_state::of(detail::world_of(rt));
  std::lock_guard<std::mutex> guard{st->mu};
  st->services[name] = context_id;
}

message_port connect(std::string_view url) {
  auto* core = detail::current_core();
  if (core == nullptr)
    throw dom_exception(std::string{error_name::invalid_state},
                        "remote::connect is called inside a context");
  auto u = endpoint_url::parse(url);
  auto st = detail::remote::node_state::of(core->rt());
  auto [mine, theirs] = core->rt().sched->make_pair(true);
  auto port = core->adopt_port(std::move(mine));
  // If the node context never runs this, the carrier's release closes the
  // node's end, and this port gets `close`.
  auto carrier = std::make_shared<detail::serialized_message>();
  carrier->ports.push_back(std::move(theirs));
  carrier->fate = drop_reason::node_lost;
  auto requester = caf::actor_cast<caf::actor>(core);
  std::weak_ptr<detail::port_object> weak = port.object();
  st->in_ctx([st, u, carrier, requester, weak] {
    auto rec = std::move(carrier->ports.at(0));
    carrier->ports.clear();
    st->connect(u.host, u.port, u.name, u.to_string(), std::move(rec),
                requester, weak);
  });
  return port;
}

node_stats stats(runtime& rt) {
  auto& w = detail::world_of(rt);
  std::shared_ptr<detail::remote::node_state> st;
  {
    std::lock_guard<std::mutex> guard{w.mu};
    st = std::static_pointer_cast<detail::remote::node_state>(w.remote);
  }
  node_stats s;
  if (!st)
    return s;
  s.peers = st->peers_up.load();
  s.links = st->live_links.load();
  s.frames_in = st->frames_in.load();
  s.frames_out = st->frames_out.load();
  s.violations = st->violations.load();
  s.internal_errors = st->internal_errors.load();
  s.unattributed = st->unattributed.load();
  s.nodes_lost = st->nodes_lost.load();
  s.listening = st->listening.load();
  s.reconnects = st->reconnects.load();
  s.resent = st->resent.load();
  s.stale = st->stale.load();
  s.credits_sent = st->credits_out.load();
  s.credits_received = st->credits_in.load();
  s.splices = st->splices.load();
  s.swaps = st->swaps.load();
  return s;
}

} // namespace entangle::remote
