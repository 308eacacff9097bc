// trace_recorder's writers: Chrome Trace Event JSON, Graphviz DOT, Mermaid.
//
// JSON layout (one process, pid 1): a track (tid) per context, named by
// thread_name metadata and sorted by context id, holding one slice for the
// context's life; tid 0 is the runtime (events outside any context). A
// post is a short "post" slice on the sender's track and a delivery is a
// slice on the receiver's; a flow arrow (ph "s" -> ph "f", id = message id,
// "bp":"e" so it binds to the enclosing slice) joins them when both were
// kept. Transfers, closes, drops and crashes are instants; timers and RPC
// steps are slices named by what ran; "queue <context>" counters show
// messages waiting per context.

#include <algorithm>
#include <map>
#include <ostream>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "trace/trace_recorder_state.hpp"

namespace entangle {

namespace {

using kind = trace_recorder::state::kind;
using event = trace_recorder::state::event;

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}

/// A port's name in labels: its id, unique within the runtime (the ends
/// of one channel are consecutive; an end keeps its id when transferred).
std::string port_label(std::uint64_t port) {
  return fmt::format("p{}", port);
}

/// An exception's what() in a one-line label: at most `max` characters.
std::string short_what(std::string_view what, std::size_t max = 60) {
  if (what.size() <= max)
    return std::string{what};
  return std::string{what.substr(0, max - 3)} + "...";
}

double us(std::int64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

const char* deliver_name(std::uint8_t sub) {
  return sub == 2 ? "close" : sub == 1 ? "messageerror" : "message";
}

/// The kept events' indices in time order.
std::vector<std::size_t> by_time(const std::vector<event>& events) {
  std::vector<std::size_t> order(events.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return events[a].ts < events[b].ts;
  });
  return order;
}

/// Tracks messages waiting per context from the depths the events carry.
class depth_tracker {
public:
  /// Sets `port`'s depth (owned by `ctx`, 0 if unknown); returns the
  /// context whose total changed, or 0.
  std::uint64_t set(std::uint64_t port, std::uint64_t ctx, std::int64_t n) {
    auto& p = ports_[port];
    if (ctx != 0 && ctx != p.ctx) {
      if (p.ctx != 0)
        totals_[p.ctx] -= p.depth;
      p.ctx = ctx;
      totals_[ctx] += p.depth;
    }
    if (p.ctx != 0)
      totals_[p.ctx] += n - p.depth;
    p.depth = n;
    return p.ctx;
  }
  std::int64_t total(std::uint64_t ctx) {
    return totals_[ctx];
  }

private:
  struct port_depth {
    std::uint64_t ctx = 0;
    std::int64_t depth = 0;
  };
  std::unordered_map<std::uint64_t, port_depth> ports_;
  std::unordered_map<std::uint64_t, std::int64_t> totals_;
};

} // namespace

void trace_recorder::write_chrome_json(std::ostream& out) const {
  std::lock_guard<std::mutex> guard{st_->mu};
  auto& st = *st_;
  st.gather();
  auto& evs = st.events;
  // Flows only where both ends were kept: every "s" has its "f".
  std::unordered_map<std::uint64_t, std::size_t> posted;
  std::set<std::uint64_t> flowing;
  for (std::size_t i = 0; i < evs.size(); ++i)
    if (evs[i].k == kind::post && evs[i].sub == 1)
      posted.emplace(evs[i].message, i);
  for (auto& e : evs)
    if (e.k == kind::deliver && e.message != 0 && posted.count(e.message) != 0)
      flowing.insert(e.message);

  std::int64_t last = 0;
  for (auto& e : evs)
    last = std::max(last, e.ts + e.dur);
  for (auto& [id, c] : st.contexts)
    last = std::max(last, std::max(c.start, c.end));

  out << "{\"displayTimeUnit\":\"ms\",\"otherData\":{";
  out << fmt::format("\"generator\":\"entangle trace_recorder\","
                     "\"title\":\"{}\",\"max_events\":{},\"events_kept\":{},"
                     "\"events_dropped\":{},\"truncated\":{},"
                     "\"posts\":{},\"deliveries\":{},\"contexts\":{}",
                     json_escape(st.title), st.limits.max_events, evs.size(),
                     st.totals.events_dropped,
                     st.totals.events_dropped > 0 ? "true" : "false",
                     st.totals.posts, st.totals.deliveries,
                     st.contexts.size());
  out << "},\"traceEvents\":[\n";
  bool first = true;
  auto emit = [&](const std::string& line) {
    if (!first)
      out << ",\n";
    first = false;
    out << line;
  };
  emit(fmt::format("{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,"
                   "\"tid\":0,\"args\":{{\"name\":\"{}\"}}}}",
                   json_escape(st.title)));
  emit("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":0,"
       "\"args\":{\"name\":\"runtime\"}}");
  for (auto& [id, c] : st.contexts) {
    auto name = json_escape(fmt::format("{} #{} ({})", c.name, id,
                                        c.kind.empty() ? "context" : c.kind));
    emit(fmt::format("{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,"
                     "\"tid\":{},\"args\":{{\"name\":\"{}\"}}}}",
                     id, name));
    emit(fmt::format("{{\"ph\":\"M\",\"name\":\"thread_sort_index\","
                     "\"pid\":1,\"tid\":{},\"args\":{{\"sort_index\":{}}}}}",
                     id, id));
    auto end = c.end >= 0 ? c.end : last;
    emit(fmt::format("{{\"ph\":\"X\",\"name\":\"{}\",\"cat\":\"context\","
                     "\"pid\":1,\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},"
                     "\"args\":{{\"kind\":\"{}\",\"creator\":{},"
                     "\"ended\":\"{}\"{}}}}}",
                     json_escape(c.name), id, us(c.start),
                     us(std::max<std::int64_t>(end - c.start, 0)),
                     json_escape(c.kind), c.creator,
                     json_escape(c.end >= 0 ? c.how : "running"),
                     c.what.empty() ? std::string{}
                                    : fmt::format(",\"error\":\"{}\"",
                                                  json_escape(c.what))));
  }
  depth_tracker depth;
  auto counter = [&](std::uint64_t ctx, std::int64_t ts) {
    if (ctx == 0)
      return;
    emit(fmt::format("{{\"ph\":\"C\",\"name\":\"queue {}\",\"pid\":1,"
                     "\"ts\":{:.3f},\"args\":{{\"messages\":{}}}}}",
                     json_escape(st.label(ctx)), us(ts), depth.total(ctx)));
  };
  for (auto i : by_time(evs)) {
    auto& e = evs[i];
    switch (e.k) {
      case kind::post: {
        // Real durations, never padded: slices on one track must nest (a
        // post inside its handler, handlers one after the other).
        emit(fmt::format(
          "{{\"ph\":\"X\",\"name\":\"post\",\"cat\":\"message\",\"pid\":1,"
          "\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},\"args\":{{\"message\":{},"
          "\"port\":\"{}\",\"target_port\":\"{}\",\"type\":\"{}\","
          "\"ports\":{},\"queued\":{},\"queue_depth\":{}}}}}",
          e.ctx, us(e.ts), us(e.dur), e.message,
          e.port ? port_label(e.port) : "none",
          e.other ? port_label(e.other) : "none", e.type,
          e.ports, e.sub ? "true" : "false", e.depth));
        if (flowing.count(e.message) != 0)
          emit(fmt::format("{{\"ph\":\"s\",\"name\":\"message\","
                           "\"cat\":\"message\",\"id\":{},\"pid\":1,"
                           "\"tid\":{},\"ts\":{:.3f}}}",
                           e.message, e.ctx, us(e.ts)));
        if (e.sub && e.other != 0) // port messages only
          counter(depth.set(e.other, e.other_ctx, e.depth), e.ts);
        break;
      }
      case kind::deliver: {
        emit(fmt::format(
          "{{\"ph\":\"X\",\"name\":\"{}\",\"cat\":\"message\",\"pid\":1,"
          "\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},\"args\":{{\"message\":{},"
          "\"port\":\"{}\",\"queue_left\":{}}}}}",
          deliver_name(e.sub), e.ctx, us(e.ts),
          us(e.dur), e.message,
          port_label(e.port), e.depth));
        if (flowing.count(e.message) != 0)
          emit(fmt::format("{{\"ph\":\"f\",\"bp\":\"e\",\"name\":\"message\","
                           "\"cat\":\"message\",\"id\":{},\"pid\":1,"
                           "\"tid\":{},\"ts\":{:.3f}}}",
                           e.message, e.ctx, us(e.ts)));
        if (e.port != 0)
          counter(depth.set(e.port, e.ctx, e.depth), e.ts);
        break;
      }
      case kind::transfer:
        emit(fmt::format("{{\"ph\":\"i\",\"s\":\"t\",\"name\":\"transfer\","
                         "\"cat\":\"port\",\"pid\":1,\"tid\":{},"
                         "\"ts\":{:.3f},\"args\":{{\"port\":\"{}\"}}}}",
                         e.ctx, us(e.ts), port_label(e.port)));
        break;
      case kind::close:
        emit(fmt::format(
          "{{\"ph\":\"i\",\"s\":\"t\",\"name\":\"close\",\"cat\":\"port\","
          "\"pid\":1,\"tid\":{},\"ts\":{:.3f},\"args\":{{\"port\":\"{}\","
          "\"reason\":\"{}\",\"dropped\":{}}}}}",
          e.ctx, us(e.ts), port_label(e.port),
          to_string(static_cast<drop_reason>(e.sub)), e.other));
        counter(depth.set(e.port, e.ctx, 0), e.ts);
        break;
      case kind::drop:
        emit(fmt::format("{{\"ph\":\"i\",\"s\":\"t\",\"name\":\"drop: {}\","
                         "\"cat\":\"drop\",\"pid\":1,\"tid\":{},"
                         "\"ts\":{:.3f},\"args\":{{\"count\":{}}}}}",
                         to_string(static_cast<drop_reason>(e.sub)), e.ctx,
                         us(e.ts), e.other));
        break;
      case kind::task: {
        // Timers carry their delay, RPC steps how they ended.
        std::string args = fmt::format("\"id\":{}", e.other);
        if (*e.detail != '\0')
          args += fmt::format(",\"detail\":\"{}\"", json_escape(e.detail));
        if (e.other_ctx != 0)
          args += fmt::format(",\"delay_ms\":{}", e.other_ctx);
        emit(fmt::format("{{\"ph\":\"X\",\"name\":\"{}\",\"cat\":\"task\","
                         "\"pid\":1,\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},"
                         "\"args\":{{{}}}}}",
                         json_escape(e.type), e.ctx, us(e.ts), us(e.dur),
                         args));
        break;
      }
      case kind::ended: {
        auto c = st.contexts.find(e.ctx);
        auto what = c == st.contexts.end() ? std::string{} : c->second.what;
        emit(fmt::format("{{\"ph\":\"i\",\"s\":\"t\",\"name\":\"{}\","
                         "\"cat\":\"context\",\"pid\":1,\"tid\":{},"
                         "\"ts\":{:.3f},\"args\":{{\"what\":\"{}\"}}}}",
                         e.sub == 1 ? "crashed" : "terminated", e.ctx,
                         us(e.ts), json_escape(what)));
        break;
      }
    }
  }
  if (st.totals.events_dropped > 0)
    emit(fmt::format("{{\"ph\":\"i\",\"s\":\"g\",\"name\":\"trace truncated: "
                     "{} later events not kept (max_events {})\",\"pid\":1,"
                     "\"tid\":0,\"ts\":{:.3f}}}",
                     st.totals.events_dropped, st.limits.max_events,
                     us(st.first_cut)));
  out << "\n]}\n";
}

void trace_recorder::write_dot(std::ostream& out) const {
  std::lock_guard<std::mutex> guard{st_->mu};
  auto& st = *st_;
  st.gather();
  auto owner = [&](std::uint64_t port) -> std::uint64_t {
    auto i = st.ports.find(port);
    return i == st.ports.end() || i->second.owners.empty()
             ? 0
             : i->second.owners.back();
  };
  out << "digraph entangle {\n"
      << fmt::format("  label=\"{} (contexts: boxes; solid: entangled ports "
                     "between their last owners; dashed: port transfers; "
                     "grey: creation and worker ports)\";\n",
                     json_escape(st.title))
      << "  labelloc=t; rankdir=LR; fontname=\"Helvetica\";\n"
      << "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\","
         " fontname=\"Helvetica\"];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (auto& [id, c] : st.contexts) {
    if (c.how == "exception")
      out << fmt::format("  c{} [label=\"{}\\n#{} {}\\ncrashed: {}\", "
                         "fillcolor=\"#f8d7da\", color=\"#b00020\"];\n",
                         id, json_escape(c.name), id, json_escape(c.kind),
                         json_escape(short_what(c.what)));
    else
      out << fmt::format("  c{} [label=\"{}\\n#{} {}{}\"];\n", id,
                         json_escape(c.name), id, json_escape(c.kind),
                         c.how == "terminated" ? "\\nterminated" : "");
  }
  // Channels between the same two contexts are drawn as one edge; a
  // worker's implicit pair (or a shared worker connection) as a grey one.
  struct link {
    std::size_t channels = 0;
    std::size_t moved = 0;
    std::size_t implicit = 0;
  };
  std::map<std::pair<std::uint64_t, std::uint64_t>, link> links;
  for (auto& ch : st.channels) {
    auto oa = owner(ch.port1), ob = owner(ch.port2);
    if (oa == 0 || ob == 0)
      continue;
    auto& l = links[{std::min(oa, ob), std::max(oa, ob)}];
    if (ch.implicit) {
      ++l.implicit;
      continue;
    }
    ++l.channels;
    if (st.ports.at(ch.port1).transfers + st.ports.at(ch.port2).transfers > 0)
      ++l.moved;
  }
  for (auto& [id, c] : st.contexts) {
    if (c.creator == 0 || st.contexts.count(c.creator) == 0)
      continue;
    auto i = links.find({std::min(c.creator, id), std::max(c.creator, id)});
    bool has_port = i != links.end() && i->second.implicit > 0;
    // A shared worker's creator is its first client: the port is a
    // connection like the others'.
    auto label = c.kind == "shared worker" ? "connection" : "worker port";
    out << fmt::format("  c{} -> c{} [color=\"#888888\", arrowhead=empty, "
                       "fontcolor=\"#888888\", {}];\n",
                       c.creator, id,
                       has_port ? fmt::format("label=\"{}\"", label)
                                : std::string{"style=dotted"});
    if (has_port)
      i->second.implicit = 0;
  }
  for (auto& [ends, l] : links) {
    if (l.implicit > 0) // a connection to a shared worker it did not start
      out << fmt::format("  c{} -> c{} [dir=both, color=\"#888888\", "
                         "fontcolor=\"#888888\", label=\"connection\"];\n",
                         ends.first, ends.second);
    if (l.channels == 0)
      continue;
    auto text = l.channels == 1 ? std::string{"channel"}
                                : fmt::format("{} channels", l.channels);
    if (l.moved > 0)
      text += fmt::format("\\n{} with a transferred end", l.moved);
    out << fmt::format("  c{} -> c{} [dir=both, color=\"#1f5fbf\", "
                       "penwidth=1.6, label=\"{}\"];\n",
                       ends.first, ends.second, text);
  }
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::size_t> moves;
  for (auto& [id, p] : st.ports)
    for (std::size_t i = 1; i < p.owners.size(); ++i)
      if (p.owners[i - 1] != 0 && p.owners[i] != 0)
        ++moves[{p.owners[i - 1], p.owners[i]}];
  for (auto& [ends, n] : moves)
    out << fmt::format("  c{} -> c{} [style=dashed, color=\"#d9822b\", "
                       "fontcolor=\"#d9822b\", label=\"{}\"];\n",
                       ends.first, ends.second,
                       n == 1 ? std::string{"port transfer"}
                              : fmt::format("{} port transfers", n));
  if (st.graph_cut)
    out << fmt::format("  note [shape=note, label=\"graph truncated at {} "
                       "ports\"];\n",
                       st.limits.max_graph_ports);
  out << "}\n";
}

namespace {

/// Mermaid text: keep it to characters no Mermaid version misreads.
std::string mermaid_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '_'
              || c == '.' || c == '(' || c == ')' || c == '/';
    out += ok ? c : ' ';
  }
  return out;
}

} // namespace

void trace_recorder::write_mermaid(std::ostream& out) const {
  std::lock_guard<std::mutex> guard{st_->mu};
  auto& st = *st_;
  st.gather();
  auto& evs = st.events;
  std::unordered_map<std::uint64_t, const event*> sender;
  // Messages are shown numbered 1, 2, ... in posting order: trace ids are
  // unique but handed to each thread in blocks (port_trace.cpp), so their
  // values depend on which worker ran which context.
  std::unordered_map<std::uint64_t, std::size_t> number;
  for (auto i : by_time(evs)) {
    auto& e = evs[i];
    if (e.k == kind::post && e.sub == 1 && sender.emplace(e.message, &e).second)
      number.emplace(e.message, number.size() + 1);
  }
  out << "sequenceDiagram\n";
  for (auto& [id, c] : st.contexts)
    out << fmt::format("  participant c{} as {} {}\n", id,
                       mermaid_text(c.name), id);
  auto max = st.limits.max_sequence_messages;
  std::size_t shown = 0, left = 0;
  auto known = [&](std::uint64_t ctx) { return st.contexts.count(ctx) != 0; };
  for (auto i : by_time(evs)) {
    auto& e = evs[i];
    if (!known(e.ctx))
      continue;
    std::string line;
    if (e.k == kind::deliver && e.sub != 2) {
      auto s = sender.find(e.message);
      if (s == sender.end() || !known(s->second->ctx))
        continue;
      if (shown >= max) {
        ++left;
        continue;
      }
      ++shown;
      auto* post = s->second;
      line = fmt::format("  c{}-)c{}: {}{} (message {}{})\n", post->ctx,
                         e.ctx, e.sub == 1 ? "messageerror: " : "",
                         post->type, number.at(e.message),
                         post->ports > 0
                           ? fmt::format(", {} port(s)", post->ports)
                           : std::string{});
    } else if (shown >= max) {
      continue;
    } else if (e.k == kind::deliver) {
      line = fmt::format("  Note over c{}: close event (port {})\n", e.ctx,
                         port_label(e.port));
    } else if (e.k == kind::transfer) {
      line = fmt::format("  Note over c{}: transfers port {}\n", e.ctx,
                         port_label(e.port));
    } else if (e.k == kind::close && e.sub == static_cast<std::uint8_t>(
                                                drop_reason::closed)) {
      line = fmt::format("  Note over c{}: closes port {}\n", e.ctx,
                         port_label(e.port));
    } else if (e.k == kind::task) {
      // "timeout 3 (100 ms)", "rpc method add (call 1) returned"
      bool rpc = std::string_view{e.type}.substr(0, 4) == "rpc ";
      line = fmt::format(
        "  Note over c{}: {}{}{}\n", e.ctx, mermaid_text(e.type),
        rpc ? fmt::format(" (call {})", e.other)
            : fmt::format(" {} ({} ms)", e.other, e.other_ctx),
        *e.detail != '\0' ? " " + mermaid_text(e.detail) : std::string{});
    } else if (e.k == kind::ended) {
      auto c = st.contexts.find(e.ctx);
      line = e.sub == 1 ? fmt::format("  Note over c{}: crashed ({})\n", e.ctx,
                                      mermaid_text(short_what(
                                        c->second.what)))
                        : fmt::format("  Note over c{}: terminated\n", e.ctx);
    }
    out << line;
  }
  if (left > 0 || st.totals.events_dropped > 0) {
    auto first_ctx = st.contexts.empty() ? 0 : st.contexts.begin()->first;
    if (first_ctx != 0)
      out << fmt::format("  Note over c{}: {} more messages not shown (cap "
                         "{}){}\n",
                         first_ctx, left, max,
                         st.totals.events_dropped > 0
                           ? "; the trace itself was truncated"
                           : "");
  }
}

} // namespace entangle
