#pragma once

// Streams over ports, in the shape of WHATWG Streams: a writable end and a
// readable end connected by a port, with credit-based backpressure, close,
// abort and cancel with a reason, errors propagated, and either end
// transferable (docs/guide.md, "Streams").

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "entangle/flow_control.hpp"
#include "entangle/message_event.hpp"
#include "entangle/message_port.hpp"
#include "entangle/promise.hpp"
#include "entangle/transfer.hpp"
#include "entangle/typed.hpp"
#include "entangle/value.hpp"

namespace entangle {

/// How a new stream is made (`make_stream`).
struct stream_options {
  /// The reader's high-water mark: chunks (and/or bytes) the writer may
  /// have unread at the reader before `write` returns false and `ready()`
  /// waits. A chunk the reader's consumer is still processing counts as
  /// unread. Past its hard limit a write throws `QuotaExceededError`.
  high_water_mark mark{16, 0, 2};
};

namespace detail {

/// @private The writable end's state (src/streams/stream.cpp).
class stream_writer_core;
/// @private The readable end's state.
class stream_reader_core;

/// @private Throws the type_error of a null stream handle.
[[noreturn]] void throw_null_stream();

/// @private Opens the writable end on `port` (owned by the running
/// context): listens for ready notices, the reader's cancel and close.
std::shared_ptr<stream_writer_core> open_writer(const message_port& port);
/// @private Opens the readable end on `port` (not reading yet).
std::shared_ptr<stream_reader_core> open_reader(const message_port& port);
/// @private A fresh channel: (writer port, reader port with `mark`).
std::pair<message_port, message_port> stream_channel(const high_water_mark& m);

/// @private Throws unless a chunk may be written now (InvalidStateError
/// after close or transfer, the stored error after an abort or cancel).
const message_port& writer_port(stream_writer_core& w);
/// @private Whether the reader has room after a write (lock-free).
bool writer_has_room(stream_writer_core& w) noexcept;
promise<value> writer_ready(const std::shared_ptr<stream_writer_core>& w);
std::optional<std::int64_t> writer_desired(stream_writer_core& w);
void writer_close(stream_writer_core& w);
void writer_abort(stream_writer_core& w, error_value reason);
promise<value> writer_closed(stream_writer_core& w);
message_port writer_release_port(stream_writer_core& w);

/// @private One chunk for the reader's consumer: runs it; returns a
/// pending promise while it is still processing, else a null one.
using stream_delivery = std::function<promise<value>()>;

/// @private Locks the readable end and starts reading: `install` sets the
/// port's chunk handler, which hands each chunk to `reader_arrive`.
void reader_start(const std::shared_ptr<stream_reader_core>& r,
                  const std::function<void(const message_port&)>& install);
void reader_arrive(const std::shared_ptr<stream_reader_core>& r,
                   stream_delivery d, std::size_t bytes);
/// @private Nothing buffered or in progress: a chunk may run at once.
bool reader_idle(const stream_reader_core& r) noexcept;
/// @private Whether the reader's port has a byte mark (chunk sizes count).
bool reader_measures_bytes(const stream_reader_core& r) noexcept;
/// @private What the consumer returned for a chunk run at once.
void reader_settle(stream_reader_core& r, promise<value> p,
                   std::size_t bytes);
/// @private Called in a catch block: the consumer threw.
void reader_failed(stream_reader_core& r);
void reader_cancel(stream_reader_core& r, error_value reason);
promise<value> reader_closed(stream_reader_core& r);
message_port reader_release_port(stream_reader_core& r);
void reader_restore_port(stream_reader_core& r) noexcept;
bool reader_locked(const stream_reader_core& r) noexcept;

/// @private Calls the consumer and turns what it returns into a delivery
/// result: void or a value means done now; a promise means "still busy".
template <class F, class T>
promise<value> consume(F& fn, T& chunk) {
  using R = std::decay_t<std::invoke_result_t<F&, T&>>;
  if constexpr (is_promise<R>::value) {
    auto p = fn(chunk);
    if (!p || p.fulfilled())
      return {};
    return p.then([](auto&) {}); // a promise<value> settled with it
  } else {
    fn(chunk);
    return {};
  }
}

/// @private Hands `chunk` (of `bytes`) to the consumer: at once when
/// nothing is buffered or in progress -- no closure is made, the common
/// case of a consumer that keeps up -- else queued behind the rest.
template <class F, class C>
void deliver_chunk(const std::shared_ptr<stream_reader_core>& r,
                   const std::shared_ptr<F>& user, C& chunk,
                   std::size_t bytes) {
  if (reader_idle(*r)) {
    promise<value> p;
    try {
      p = consume(*user, chunk);
    } catch (...) {
      reader_failed(*r);
      return;
    }
    reader_settle(*r, std::move(p), bytes);
    return;
  }
  reader_arrive(
    r, [user, c = std::move(chunk)]() mutable { return consume(*user, c); },
    bytes);
}

/// @private The chunk types a stream carries: `value`, or a type
/// `post_typed` accepts.
template <class T>
constexpr void check_chunk_type() {
  if constexpr (!std::is_same_v<T, value>)
    check_typed_message<T>();
}

} // namespace detail

template <class T = value>
class writable_stream;
template <class T = value>
class readable_stream;

/// The readable end of a stream: chunks of `T` (a `value`, or a C++ type
/// registered for `post_typed`) arriving in the order they were written.
///
/// A handle: copies share the end. It belongs to the context it was made
/// or received in, like its port. Reading locks it (`for_each`,
/// `pipe_to`); an unlocked one can be transferred: post `port()` in a
/// transfer list and wrap it on the other side (`readable_stream<T>{port}`)
/// -- chunks already queued and chunks still on their way follow it in
/// order, and the writer's credit follows too.
template <class T>
class readable_stream {
public:
  /// A null stream.
  readable_stream() noexcept = default;

  /// Wraps a port received for a stream (the other side's `port()`).
  /// @throws as `message_port` operations on a port that is not ours.
  explicit readable_stream(const message_port& port)
    : core_(make_core(port)) {
    detail::check_chunk_type<T>();
  }

  explicit operator bool() const noexcept {
    return core_ != nullptr;
  }

  /// Reads every chunk: `fn(T&)` runs once per chunk, in order, on this
  /// context's event loop. It may return a promise: the next chunk waits
  /// until it settles, and the chunk counts against the writer's credit
  /// until then (so a slow consumer slows the writer, with bounded
  /// memory). Returns `closed()`. An exception from `fn`, or a promise it
  /// returns being rejected, cancels the stream with that error.
  /// @throws dom_exception `InvalidStateError` when already locked.
  template <class F>
  promise<value> for_each(F fn) const {
    static_assert(std::is_invocable_v<F&, T&>,
                  "entangle: for_each takes a function of (T&) returning "
                  "nothing, or a promise to wait for");
    auto user = std::make_shared<F>(std::move(fn));
    core();
    std::weak_ptr<detail::stream_reader_core> weak = core_;
    detail::reader_start(core_, [user, weak](const message_port& port) {
      if constexpr (std::is_same_v<T, value>) {
        port.on_message([user, weak](message_event& ev) {
          if (auto r = weak.lock()) {
            // Sized as the post counted it: only under a byte mark.
            auto n = detail::reader_measures_bytes(*r) ? message_size(ev.data)
                                                       : 0;
            detail::deliver_chunk(r, user, ev.data, n);
          }
        });
      } else {
        // A chunk holds the credit it was counted with (encoded bytes and
        // type name) while the consumer works on it.
        detail::install_typed_handler<T>(
          port, [user, weak](T& x, message_event&, std::size_t size) {
            if (auto r = weak.lock())
              detail::deliver_chunk(r, user, x, size);
          });
      }
    });
    return closed();
  }

  /// Pipes every chunk into `dest` (waiting for its credit before each
  /// write), then closes it; an error on either side aborts or cancels
  /// the other with the same reason. Returns `closed()`.
  promise<value> pipe_to(writable_stream<T> dest) const {
    auto done = for_each([dest](T& x) {
      return dest.ready().then([dest, x](value&) { dest.write(x); });
    });
    done.then([dest](value&) { dest.close(); },
              [dest](const error_value& e) { dest.abort(e); });
    // The destination's reader cancelling stops this one at once.
    auto self = *this;
    dest.closed().then([](value&) {},
                       [self](const error_value& e) { self.cancel(e); });
    return done;
  }

  /// Stops reading with `reason` (WHATWG cancel): the writer sees it (its
  /// writes throw it, its `closed()` is rejected with it); chunks not read
  /// yet are dropped with the port; `closed()` is fulfilled.
  void cancel(error_value reason
              = error_value{"AbortError", "the stream was cancelled"}) const {
    detail::reader_cancel(core(), std::move(reason));
  }

  /// Fulfilled when the writer closed and every chunk was read (or the
  /// stream was cancelled here); rejected with the reason of an abort, an
  /// error, or a writer that went away without closing.
  promise<value> closed() const {
    return detail::reader_closed(core());
  }

  /// Whether reading started (a locked stream cannot be transferred).
  bool locked() const noexcept {
    return core_ && detail::reader_locked(*core_);
  }

  /// The port to transfer the stream with (this handle is unusable
  /// afterwards). @throws dom_exception `InvalidStateError` when locked.
  message_port port() const {
    return detail::reader_release_port(core());
  }

  /// @private Takes back the port `port()` handed out when it was not
  /// transferred after all (a post that failed changes nothing): the
  /// stream is readable again. No-op unless handed out and still ours.
  void restore_port() const {
    if (core_)
      detail::reader_restore_port(*core_);
  }

private:
  detail::stream_reader_core& core() const {
    if (!core_)
      detail::throw_null_stream();
    return *core_;
  }

  static std::shared_ptr<detail::stream_reader_core>
  make_core(const message_port& port) {
    detail::check_chunk_type<T>();
    return detail::open_reader(port);
  }

  std::shared_ptr<detail::stream_reader_core> core_;
};

/// The writable end of a stream of `T` (see `readable_stream`).
///
/// Writes are posted at once, in order. Backpressure is the reader's
/// credit: `write` returns false once the reader has as much unread as its
/// high-water mark, and `ready()` is fulfilled when it has room again
/// (WHATWG's writer.ready); writing on past the hard limit throws
/// `QuotaExceededError`. Contexts never block: wait with `ready().then`.
/// Transferable at any time before it is closed: post `port()` and wrap it
/// on the other side (`writable_stream<T>{port}`); order and credit hold.
template <class T>
class writable_stream {
public:
  writable_stream() noexcept = default;

  /// Wraps a port received for a stream (the other side's `port()`).
  explicit writable_stream(const message_port& port)
    : core_(detail::open_writer(port)) {
    detail::check_chunk_type<T>();
  }

  explicit operator bool() const noexcept {
    return core_ != nullptr;
  }

  /// Writes `chunk` (moving what `transfer` lists, for value streams).
  /// Returns whether the reader still has room (false: wait for
  /// `ready()`). @throws dom_exception `QuotaExceededError` past the hard
  /// limit, `InvalidStateError` after close or transfer, the stored error
  /// once aborted or cancelled; as `post_message`/`post_typed` otherwise.
  bool write(const T& chunk, const transfer_list& transfer = {}) const {
    const auto& port = detail::writer_port(core());
    if constexpr (std::is_same_v<T, value>)
      port.post_message(chunk, transfer);
    else
      post_typed(port, chunk, transfer);
    return detail::writer_has_room(*core_);
  }

  /// Whether the reader has room now (lock-free; false: wait for
  /// `ready()`).
  bool has_room() const {
    return detail::writer_has_room(core());
  }

  /// Fulfilled when the reader has room (at once if it has); rejected
  /// with the stream's error, or when it is closed or transferred.
  promise<value> ready() const {
    core();
    return detail::writer_ready(core_);
  }

  /// The reader's mark minus what is unread there (nullopt: no mark).
  std::optional<std::int64_t> desired_size() const {
    return detail::writer_desired(core());
  }

  /// Closes the stream: the reader gets every chunk, then its end.
  /// Idempotent.
  void close() const {
    detail::writer_close(core());
  }

  /// Aborts with `reason`: it reaches the reader after the chunks already
  /// written (its `closed()` is rejected with it). Idempotent.
  void abort(error_value reason
             = error_value{"AbortError", "the stream was aborted"}) const {
    detail::writer_abort(core(), std::move(reason));
  }

  /// Fulfilled once closed here; rejected with the reason of an abort, or
  /// of the reader's cancel, or when the reader went away.
  promise<value> closed() const {
    return detail::writer_closed(core());
  }

  /// The port to transfer the stream with; this handle is unusable
  /// afterwards (pending `ready()` promises are rejected).
  message_port port() const {
    return detail::writer_release_port(core());
  }

private:
  detail::stream_writer_core& core() const {
    if (!core_)
      detail::throw_null_stream();
    return *core_;
  }

  std::shared_ptr<detail::stream_writer_core> core_;
};

/// Both ends of a fresh stream, in the running context.
template <class T = value>
struct stream_pair {
  writable_stream<T> writable;
  readable_stream<T> readable;
};

/// Makes a stream: a fresh channel whose reader end has `opts.mark`.
/// Either end (or both) may then be transferred to other contexts.
template <class T = value>
stream_pair<T> make_stream(stream_options opts = {}) {
  detail::check_chunk_type<T>();
  auto [w, r] = detail::stream_channel(opts.mark);
  return {writable_stream<T>{w}, readable_stream<T>{r}};
}

} // namespace entangle
