// Streams over ports (include/entangle/stream.hpp): the state of each end
// and the protocol between them. Chunks are ordinary messages (values, or
// typed messages of the chunk type); control is a typed `stream_signal`
// in order with them: "close" and "abort" writer -> reader, "cancel"
// reader -> writer. Backpressure is the port's flow control: the reader's
// port has the stream's high-water mark, and the reader holds a chunk
// its consumer is still processing as unread (port_scheduler::hold/ack).

#include "entangle/stream.hpp"

#include <deque>
#include <utility>

#include <caf/binary_serializer.hpp>
#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "entangle/context.hpp"
#include "entangle/error.hpp"
#include "entangle/message_channel.hpp"
#include "ports/flow_state.hpp"
#include "streams/stream_signal.hpp"

namespace entangle::detail {

namespace {

error_value invalid_state(std::string what) {
  return error_value{std::string{error_name::invalid_state}, std::move(what)};
}

[[noreturn]] void throw_error(const error_value& e) {
  throw dom_exception(e.name, e.message);
}

/// Throws unless `port` can carry a stream end in the running context.
void check_usable(const message_port& port, const char* op) {
  if (!port)
    throw type_error(fmt::format("{}: null message_port", op));
  if (port.object()->ctx_id != this_context().id())
    throw_error(invalid_state(
      fmt::format("{}: the port belongs to another context", op)));
  if (port.detached())
    throw_error(invalid_state(
      fmt::format("{}: the port is closed or was transferred away", op)));
}

/// Posts a control signal on `port`. Not admitted against the peer's hard
/// limit: a writer that respected its credit may always add the one
/// signal that ends its stream (the bound is the hard limit plus one).
void post_signal(const message_port& port, stream_signal s) {
  auto* home = owner_core(port.object(), "stream", true);
  auto* p = port.object().get();
  if (home == nullptr || !p->record)
    return;
  std::vector<char> bytes;
  caf::binary_serializer sink{current_execution_unit(), bytes};
  if (auto err = sink(s))
    return; // strings always serialize
  auto& ctx = *home;
  auto msg = ctx.serialize(value{}, {}, p);
  msg.typed = std::make_unique<typed_payload>(
    typed_payload{stream_signal_name, std::move(bytes), {}});
  ctx.post_serialized(*p, std::move(msg));
}

/// A promise marked as observed: the stream's own `closed()` must not
/// warn about a rejection the user caused (abort, cancel) or never asked
/// about (WHATWG marks it handled too).
promise<value> observed_promise() {
  auto p = promise<value>::make();
  p.then([](value&) {}, [](const error_value&) {});
  return p;
}

port_record* record_of(const message_port& port) noexcept {
  auto* obj = port.object().get();
  return obj != nullptr ? obj->record.get() : nullptr;
}

} // namespace

void throw_null_stream() {
  throw type_error("a null stream handle (default-constructed)");
}

// -- the writable end ---------------------------------------------------------

/// Invariants: `st` leaves `writable` once, for closed, errored or
/// released; `readies` is empty unless writable; `done` settles when `st`
/// leaves writable (except for released: the port went elsewhere). The
/// port's handlers own this state (dropped when the port closes or its
/// context ends); handles share it. Touched only by the owning context.
class stream_writer_core {
public:
  enum class state { writable, closed, errored, released };

  message_port port;
  state st = state::writable;
  error_value error;
  std::vector<promise<value>> readies;
  promise<value> done;

  void fail(error_value e) {
    if (st != state::writable)
      return;
    st = state::errored;
    error = e;
    settle_readies(&e);
    done.reject(e);
    port.close();
  }

  void settle_readies(const error_value* e) {
    auto rs = std::move(readies);
    readies.clear();
    for (auto& p : rs)
      if (e != nullptr)
        p.reject(*e);
      else
        p.resolve(value{});
  }

  bool has_room() const noexcept {
    auto* rec = record_of(port);
    return rec != nullptr && port_scheduler::peer_has_room(*rec);
  }
};

std::shared_ptr<stream_writer_core> open_writer(const message_port& port) {
  check_usable(port, "writable_stream");
  auto w = std::make_shared<stream_writer_core>();
  w->port = port;
  w->done = observed_promise();
  port.on_ready([w](message_event&) {
    if (w->st == stream_writer_core::state::writable && w->has_room())
      w->settle_readies(nullptr);
  });
  on_typed<stream_signal>(port, [w](stream_signal& s) {
    if (s.kind == "cancel")
      w->fail(error_value{s.name, s.message});
  });
  port.on_close([w](message_event&) {
    w->fail(error_value{std::string{error_name::abort},
                        "the readable end went away (closed without "
                        "cancel: its context ended?)"});
  });
  return w;
}

const message_port& writer_port(stream_writer_core& w) {
  switch (w.st) {
    case stream_writer_core::state::writable:
      return w.port;
    case stream_writer_core::state::errored:
      throw_error(w.error);
    case stream_writer_core::state::closed:
      throw_error(invalid_state("write after close()"));
    default:
      throw_error(invalid_state("write on a stream whose port was handed "
                                "out for a transfer"));
  }
}

bool writer_has_room(stream_writer_core& w) noexcept {
  return w.st == stream_writer_core::state::writable && w.has_room();
}

promise<value> writer_ready(const std::shared_ptr<stream_writer_core>& w) {
  switch (w->st) {
    case stream_writer_core::state::writable:
      break;
    case stream_writer_core::state::errored:
      return promise<value>::rejected(w->error);
    case stream_writer_core::state::closed:
      return promise<value>::rejected(invalid_state("ready() after close()"));
    default:
      return promise<value>::rejected(
        invalid_state("ready() on a stream whose port was handed out"));
  }
  if (w->has_room())
    return promise<value>::resolved(value{});
  auto p = promise<value>::make();
  w->readies.push_back(p);
  return p;
}

std::optional<std::int64_t> writer_desired(stream_writer_core& w) {
  if (w.st != stream_writer_core::state::writable)
    return std::nullopt;
  return w.port.desired_size();
}

void writer_close(stream_writer_core& w) {
  if (w.st != stream_writer_core::state::writable)
    return;
  post_signal(w.port, stream_signal{"close", {}, {}});
  w.st = stream_writer_core::state::closed;
  auto e = invalid_state("the stream was closed");
  w.settle_readies(&e);
  w.done.resolve(value{});
  w.port.close();
}

void writer_abort(stream_writer_core& w, error_value reason) {
  if (w.st != stream_writer_core::state::writable)
    return;
  post_signal(w.port, stream_signal{"abort", reason.name, reason.message});
  w.fail(std::move(reason));
}

promise<value> writer_closed(stream_writer_core& w) {
  return w.done;
}

message_port writer_release_port(stream_writer_core& w) {
  if (w.st != stream_writer_core::state::writable)
    writer_port(w); // throws why
  w.st = stream_writer_core::state::released;
  auto e = invalid_state("the stream's port was handed out for a transfer");
  w.settle_readies(&e);
  return w.port;
}

// -- the readable end ---------------------------------------------------------

/// Invariants: chunks reach the consumer in arrival order, one at a time
/// (`busy` while one is still processing); `buffer` holds what arrived
/// meanwhile, in order, each chunk held unread at the port (so the
/// writer's credit covers it); control items (signals, the port's close)
/// wait in the same order. `st` leaves `open` once; `done` settles then.
/// The port's handlers own this state. Touched only by the owning context.
class stream_reader_core
  : public std::enable_shared_from_this<stream_reader_core> {
public:
  enum class state { open, finished, errored, released };

  struct item {
    stream_delivery run;
    /// Gets the core as an argument: a control item that captured it would
    /// keep it alive through `buffer` (a cycle that leaked when the context
    /// ended with a consumer's promise still pending).
    std::function<void(stream_reader_core&)> control;
    std::size_t bytes = 0;
    bool held = false;
  };

  message_port port;
  state st = state::open;
  bool locked = false;
  bool close_signalled = false;
  bool busy = false;
  std::deque<item> buffer;
  promise<value> done;

  void hold(std::size_t bytes) {
    if (auto* rec = record_of(port))
      rec->sched().hold(*rec, bytes);
  }
  void ack(std::size_t bytes) {
    if (auto* rec = record_of(port))
      rec->sched().ack(*rec, bytes);
  }

  void end(state to, const error_value* e) {
    if (st != state::open)
      return;
    st = to;
    buffer.clear(); // the port closes below: nothing held stays counted
    port.close();
    if (e != nullptr)
      done.reject(*e);
    else
      done.resolve(value{});
  }

  /// The consumer failed: the writer learns why (cancel), then we end.
  void consumer_failed(const error_value& e) {
    if (st != state::open)
      return;
    post_signal(port, stream_signal{"cancel", e.name, e.message});
    end(state::errored, &e);
  }

  void run(item it) {
    promise<value> p;
    try {
      p = it.run();
    } catch (...) {
      consumer_failed(current_error());
      return;
    }
    settle(std::move(p), it.bytes, it.held);
  }

  /// The consumer returned `p` for a chunk of `bytes` (`held`: counted
  /// unread since it was buffered): done now, or busy until `p` settles,
  /// the chunk counting against the writer's credit until then.
  void settle(promise<value> p, std::size_t bytes, bool held) {
    if (!p) {
      if (held)
        ack(bytes);
      return;
    }
    if (!held)
      hold(bytes);
    busy = true;
    auto self = shared_from_this();
    p.then(
      [self, bytes](value&) {
        self->ack(bytes);
        self->busy = false;
        self->pump();
      },
      [self, bytes](const error_value& e) {
        self->busy = false;
        self->consumer_failed(e);
      });
  }

  void pump() {
    while (!busy && !buffer.empty() && st == state::open) {
      auto it = std::move(buffer.front());
      buffer.pop_front();
      if (it.control)
        it.control(*this);
      else
        run(std::move(it));
    }
  }

  void arrive(stream_delivery d, std::size_t bytes) {
    if (st != state::open)
      return;
    if (busy || !buffer.empty()) {
      hold(bytes);
      buffer.push_back(item{std::move(d), {}, bytes, true});
      return;
    }
    run(item{std::move(d), {}, bytes, false});
  }

  void control(std::function<void(stream_reader_core&)> fn) {
    if (st != state::open)
      return;
    buffer.push_back(item{{}, std::move(fn), 0, false});
    pump();
  }
};

std::shared_ptr<stream_reader_core> open_reader(const message_port& port) {
  check_usable(port, "readable_stream");
  auto r = std::make_shared<stream_reader_core>();
  r->port = port;
  r->done = observed_promise();
  return r;
}

void reader_start(const std::shared_ptr<stream_reader_core>& r,
                  const std::function<void(const message_port&)>& install) {
  if (r->locked)
    throw_error(invalid_state("the stream is already being read (locked)"));
  if (r->st != stream_reader_core::state::open)
    throw_error(invalid_state(r->st == stream_reader_core::state::released
                                ? "the stream's port was handed out for a "
                                  "transfer"
                                : "the stream has ended"));
  r->locked = true;
  on_typed<stream_signal>(r->port, [r](stream_signal& s) {
    if (s.kind == "close") {
      r->control([](stream_reader_core& me) { me.close_signalled = true; });
    } else if (s.kind == "abort") {
      r->control([e = error_value{s.name, s.message}](stream_reader_core& me) {
        me.end(stream_reader_core::state::errored, &e);
      });
    }
  });
  r->port.on_close([r](message_event&) {
    r->control([](stream_reader_core& me) {
      if (me.close_signalled) {
        me.end(stream_reader_core::state::finished, nullptr);
      } else {
        auto e = error_value{std::string{error_name::abort},
                             "the writable end went away without close() "
                             "(its context ended?)"};
        me.end(stream_reader_core::state::errored, &e);
      }
    });
  });
  install(r->port);
}

void reader_arrive(const std::shared_ptr<stream_reader_core>& r,
                   stream_delivery d, std::size_t bytes) {
  r->arrive(std::move(d), bytes);
}

bool reader_idle(const stream_reader_core& r) noexcept {
  return r.st == stream_reader_core::state::open && !r.busy
         && r.buffer.empty();
}

bool reader_measures_bytes(const stream_reader_core& r) noexcept {
  auto* rec = record_of(r.port);
  auto* f = rec != nullptr ? rec->flow(std::memory_order_relaxed)
                           : nullptr;
  return f != nullptr && f->mark_bytes.load(std::memory_order_relaxed) != 0;
}

void reader_settle(stream_reader_core& r, promise<value> p,
                   std::size_t bytes) {
  r.settle(std::move(p), bytes, false);
}

void reader_failed(stream_reader_core& r) {
  r.consumer_failed(current_error());
}

void reader_cancel(stream_reader_core& r, error_value reason) {
  if (r.st != stream_reader_core::state::open)
    return;
  post_signal(r.port,
              stream_signal{"cancel", reason.name, reason.message});
  r.end(stream_reader_core::state::finished, nullptr);
}

promise<value> reader_closed(stream_reader_core& r) {
  return r.done;
}

message_port reader_release_port(stream_reader_core& r) {
  if (r.locked)
    throw_error(invalid_state("a locked stream (being read) cannot be "
                              "transferred"));
  if (r.st != stream_reader_core::state::open)
    throw_error(invalid_state("the stream has ended or was handed out"));
  r.st = stream_reader_core::state::released;
  return r.port;
}

void reader_restore_port(stream_reader_core& r) noexcept {
  // Only while the port stayed here (not detached by a transfer).
  if (r.st == stream_reader_core::state::released && !r.port.detached())
    r.st = stream_reader_core::state::open;
}

bool reader_locked(const stream_reader_core& r) noexcept {
  return r.locked;
}

std::pair<message_port, message_port>
stream_channel(const high_water_mark& m) {
  message_channel ch;
  ch.port2().set_high_water_mark(m);
  return {ch.port1(), ch.port2()};
}

} // namespace entangle::detail
