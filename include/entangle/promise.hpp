#pragma once

// Promises on a context's event loop, in the shape of JavaScript's: `then`
// returns a new promise, errors propagate down a chain, and `all`, `race`
// and `any` combine several (docs/guide.md, "Promises").

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "entangle/value.hpp"

namespace entangle {

template <class T = value>
class promise;

namespace detail {

/// @private Queues `fn` as a task of the running context.
/// @throws dom_exception `InvalidStateError` outside any context.
void queue_reaction(std::function<void()> fn);

/// @private Throws `InvalidStateError` naming `what` outside any context.
void require_context(const char* what);

/// @private Throws the `type_error` for using a null promise.
[[noreturn]] void throw_null_promise();

/// @private Runs `fn` now -- or, while reactions of a settlement run on
/// this thread, after them: JavaScript's microtask order (a reaction that
/// settles another promise queues that one's reactions behind the
/// current ones, breadth first, instead of running them nested).
void run_reaction(std::function<void()> fn);

/// @private Reports a rejection that nobody handled (a warning of the
/// running context, as JavaScript reports an unhandled rejection).
void report_unhandled(const error_value& e) noexcept;

/// @private The exception being handled as an error value: a
/// `dom_exception`'s name (TypeError for a `type_error`), else "Error";
/// its message.
error_value current_error() noexcept;

template <class T>
struct is_promise : std::false_type {};
template <class T>
struct is_promise<promise<T>> : std::true_type {};

/// @private The type a continuation returning `R` settles its promise
/// with: `R`; `U` for a `promise<U>`; `value` (undefined) for void.
template <class R>
struct settles_as {
  using type = R;
};
template <>
struct settles_as<void> {
  using type = value;
};
template <class U>
struct settles_as<promise<U>> {
  using type = U;
};

/// @private The shared state of a promise.
///
/// Invariants: `outcome` changes once, from monostate to a value or an
/// error; `reactions` is empty once settled (they ran; later ones are
/// queued as tasks); `handled` is set once something observes the outcome
/// (a `then`). Touched only by the owning context's thread.
template <class T>
struct promise_state : std::enable_shared_from_this<promise_state<T>> {
  std::variant<std::monostate, T, error_value> outcome;
  /// They get the state as an argument: a reaction that captured it would
  /// keep itself alive (a cycle through `reactions`).
  std::vector<std::function<void(promise_state&)>> reactions;
  bool handled = false;

  ~promise_state() {
    if (auto* e = std::get_if<error_value>(&outcome); e && !handled)
      report_unhandled(*e);
  }

  bool settled() const noexcept {
    return outcome.index() != 0;
  }

  void settle() {
    // Reactions may add reactions (queued: it is settled now) or settle
    // other promises; take the list first.
    auto rs = std::move(reactions);
    reactions.clear();
    for (auto& r : rs)
      run_reaction([self = this->shared_from_this(), r = std::move(r)]() {
        r(*self);
      });
  }
};

/// @private Whether an error continuation was given (an empty
/// std::function counts as none).
template <class G>
bool has_handler(const G& g) noexcept {
  if constexpr (std::is_same_v<G, std::nullptr_t>)
    return false;
  else if constexpr (std::is_constructible_v<bool, const G&>)
    return static_cast<bool>(g);
  else
    return true;
}

} // namespace detail

/// The eventual result of an asynchronous operation -- a remote call, a
/// stream becoming ready or closing, a timer you wrap: pending, then
/// fulfilled with a `T` or rejected with an `error_value` (name + message),
/// once.
///
/// A promise belongs to the context that created it: its continuations run
/// on that context's event loop. Continuations added before it settles
/// run, in the order they were added, inside the task that settles it (the
/// way JavaScript runs reactions right after that task's code);
/// continuations added after it settled run as a queued task of the running
/// context, never inside `then` itself.
///
/// `then(on_value, on_error)` returns a *new* promise settled by what the
/// continuation returns: a value of type `R` (a `promise<R>`), a
/// `promise<R>` (followed), or nothing (a `promise<value>` fulfilled with
/// undefined). A rejection without an error continuation propagates to the
/// new promise; an exception thrown by a continuation rejects it (a
/// `dom_exception` with its name, anything else as "Error"). A rejection
/// that no continuation observed is reported as a warning when its last
/// copy goes (JavaScript's "unhandled rejection").
///
/// A copy of a promise refers to the same state. `T` must be copyable.
template <class T>
class promise {
public:
  using value_type = T;
  using value_fn = std::function<void(T&)>;
  using error_fn = std::function<void(const error_value&)>;

  /// A null promise (no state); `then` on it throws `type_error`.
  promise() noexcept = default;

  /// Creates a pending promise owned by the running context; settle it
  /// with `resolve` or `reject`.
  /// @throws dom_exception `InvalidStateError` outside any context.
  static promise make() {
    detail::require_context("promise::make");
    return promise{std::make_shared<detail::promise_state<T>>()};
  }

  /// Returns a fulfilled promise.
  static promise resolved(T v) {
    auto p = make();
    p.st_->outcome.template emplace<1>(std::move(v));
    return p;
  }

  /// Returns a rejected promise.
  static promise rejected(error_value e) {
    auto p = make();
    p.st_->outcome.template emplace<2>(std::move(e));
    return p;
  }

  /// Same as `rejected` (the name RPC code has used).
  static promise make_rejected(error_value e) {
    return rejected(std::move(e));
  }

  explicit operator bool() const noexcept {
    return st_ != nullptr;
  }

  /// Adds a continuation for the value and, optionally, one for the error
  /// (`void(const error_value&)`, or returning what `on_value` returns, to
  /// recover); returns the promise they settle (see the class comment).
  /// `on_value` gets the value by reference, shared by every continuation
  /// of this promise. @throws type_error on a null promise.
  template <class F, class G = std::nullptr_t>
  auto then(F on_value, G on_error = nullptr) const {
    static_assert(std::is_invocable_v<F&, T&>,
                  "entangle: a then() continuation takes the promise's value "
                  "by reference: (T&), or (const T&), or (auto&)");
    using R = std::decay_t<std::invoke_result_t<F&, T&>>;
    using U = typename detail::settles_as<R>::type;
    check_error_fn<G, U>();
    auto next = derived<U>();
    add([next, f = std::move(on_value),
         g = std::move(on_error)](detail::promise_state<T>& st) mutable {
      if (auto* v = std::get_if<1>(&st.outcome)) {
        run_into(next, f, *v);
      } else if constexpr (!std::is_same_v<G, std::nullptr_t>) {
        if (detail::has_handler(g))
          run_into(next, g, std::get<2>(st.outcome));
        else
          next.reject(std::get<2>(st.outcome));
      } else {
        next.reject(std::get<2>(st.outcome)); // propagates
      }
    });
    return next;
  }

  /// Adds an error continuation only (JavaScript's `catch`): the returned
  /// promise has this one's value, or what `on_error` returns (nothing:
  /// a default-constructed `T`, undefined for `value`).
  template <class G>
  promise<T> on_error(G on_error) const {
    return then([](T& v) { return v; }, std::move(on_error));
  }

  /// Settles the promise; the first settlement wins, later ones are
  /// ignored. Must run in the owning context.
  void resolve(T v) const {
    if (!st_ || st_->settled())
      return;
    st_->outcome.template emplace<1>(std::move(v));
    st_->settle();
  }
  void reject(error_value e) const {
    if (!st_ || st_->settled())
      return;
    st_->outcome.template emplace<2>(std::move(e));
    st_->settle();
  }

  bool pending() const noexcept {
    return st_ && !st_->settled();
  }
  bool fulfilled() const noexcept {
    return st_ && st_->outcome.index() == 1;
  }
  bool rejected() const noexcept {
    return st_ && st_->outcome.index() == 2;
  }

  /// The value once fulfilled, else nullptr.
  const T* result() const noexcept {
    return st_ ? std::get_if<1>(&st_->outcome) : nullptr;
  }

  /// The error once rejected, else nullptr.
  const error_value* error() const noexcept {
    return st_ ? std::get_if<2>(&st_->outcome) : nullptr;
  }

  /// @private Settles `next` like this promise (follows it).
  template <class U>
  void forward_to(const promise<U>& next) const {
    add([next](detail::promise_state<T>& st) {
      if (auto* v = std::get_if<1>(&st.outcome))
        next.resolve(U(*v));
      else
        next.reject(std::get<2>(st.outcome));
    });
  }

private:
  template <class>
  friend class promise;

  explicit promise(std::shared_ptr<detail::promise_state<T>> st) noexcept
    : st_(std::move(st)) {
  }

  template <class U>
  promise<U> derived() const {
    if (!st_)
      detail::throw_null_promise();
    return promise<U>::make();
  }

  /// Runs `r` when settled: now-or-later as the class comment says.
  template <class Fn>
  void add(Fn r) const {
    if (!st_)
      detail::throw_null_promise();
    st_->handled = true;
    if (!st_->settled())
      st_->reactions.emplace_back(std::move(r));
    else
      detail::queue_reaction(
        [st = st_, r = std::move(r)]() mutable { r(*st); });
  }

  template <class G, class U>
  static constexpr void check_error_fn() {
    if constexpr (!std::is_same_v<G, std::nullptr_t>) {
      static_assert(std::is_invocable_v<G&, const error_value&>,
                    "entangle: a then() error continuation takes (const "
                    "error_value&)");
      if constexpr (std::is_invocable_v<G&, const error_value&>) {
        using E = std::decay_t<std::invoke_result_t<G&, const error_value&>>;
        static_assert(std::is_void_v<E> || detail::is_promise<E>::value
                        || std::is_constructible_v<U, E>,
                      "entangle: a then() error continuation returns "
                      "nothing or what the value continuation returns");
      }
    }
  }

  /// Settles `next` with what `f(arg)` returns (or throws).
  template <class U, class Fn, class A>
  static void run_into(const promise<U>& next, Fn& f, A& arg) {
    using R = std::decay_t<std::invoke_result_t<Fn&, A&>>;
    try {
      if constexpr (std::is_void_v<R>) {
        f(arg);
        next.resolve(U{});
      } else if constexpr (detail::is_promise<R>::value) {
        R p = f(arg);
        if (!p)
          next.reject(error_value{"TypeError", "a continuation returned a "
                                               "null promise"});
        else
          p.forward_to(next);
      } else {
        next.resolve(U(f(arg)));
      }
    } catch (...) {
      next.reject(detail::current_error());
    }
  }

  std::shared_ptr<detail::promise_state<T>> st_;
};

// -- combinators (JavaScript's Promise.all, race, any) -------------------------

/// Fulfilled with every value, in input order, once all are fulfilled;
/// rejected with the first rejection. An empty input is fulfilled (as a
/// task). For `promise<value>` inputs the result is an `array`.
template <class T>
promise<std::vector<T>> all(std::vector<promise<T>> ps) {
  auto out = promise<std::vector<T>>::make();
  if (ps.empty()) {
    detail::queue_reaction([out] { out.resolve({}); });
    return out;
  }
  struct gather {
    std::vector<T> values;
    std::vector<bool> have;
    std::size_t left;
  };
  auto g = std::make_shared<gather>();
  g->values.resize(ps.size());
  g->have.resize(ps.size());
  g->left = ps.size();
  for (std::size_t i = 0; i < ps.size(); ++i)
    ps[i].then(
      [out, g, i](T& v) {
        if (g->have[i])
          return;
        g->have[i] = true;
        g->values[i] = v;
        if (--g->left == 0)
          out.resolve(std::move(g->values));
      },
      [out](const error_value& e) { out.reject(e); });
  return out;
}
template <class T>
promise<std::vector<T>> all(std::initializer_list<promise<T>> ps) {
  return all(std::vector<promise<T>>(ps));
}

/// Settled like the first input to settle. An empty input stays pending.
template <class T>
promise<T> race(std::vector<promise<T>> ps) {
  auto out = promise<T>::make();
  for (auto& p : ps)
    p.then([out](T& v) { out.resolve(v); },
           [out](const error_value& e) { out.reject(e); });
  return out;
}
template <class T>
promise<T> race(std::initializer_list<promise<T>> ps) {
  return race(std::vector<promise<T>>(ps));
}

/// Fulfilled with the first value; rejected with an `AggregateError`
/// (listing each input's error) once every input is rejected, at once (as
/// a task) for an empty input.
template <class T>
promise<T> any(std::vector<promise<T>> ps) {
  auto out = promise<T>::make();
  if (ps.empty()) {
    detail::queue_reaction([out] {
      out.reject(error_value{"AggregateError", "no promise to wait for"});
    });
    return out;
  }
  struct gather {
    std::vector<error_value> errors;
    std::size_t left;
  };
  auto g = std::make_shared<gather>();
  g->errors.resize(ps.size());
  g->left = ps.size();
  for (std::size_t i = 0; i < ps.size(); ++i)
    ps[i].then([out](T& v) { out.resolve(v); },
               [out, g, i](const error_value& e) {
                 g->errors[i] = e;
                 if (--g->left > 0)
                   return;
                 std::string msg = "every promise was rejected:";
                 for (auto& x : g->errors)
                   msg += " [" + x.name + ": " + x.message + "]";
                 out.reject(error_value{"AggregateError", std::move(msg)});
               });
  return out;
}
template <class T>
promise<T> any(std::initializer_list<promise<T>> ps) {
  return any(std::vector<promise<T>>(ps));
}

} // namespace entangle
