#include "entangle/rpc/promise.hpp"

#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "entangle/context.hpp"
#include "entangle/error.hpp"

namespace entangle::rpc {

namespace detail {

/// Invariants: `outcome` changes once, from monostate to a value or an
/// error; `reactions` is empty once settled (they ran; later ones are
/// queued as tasks); `handled` is set once some error continuation was
/// added. Touched only by the owning context's thread.
struct promise_state {
  struct reaction {
    promise::value_fn on_value;
    promise::error_fn on_error;
  };
  std::variant<std::monostate, value, error_value> outcome;
  std::vector<reaction> reactions;
  bool handled = false;

  ~promise_state() {
    // Nothing lost silently: a rejection nobody could see is reported, as
    // JavaScript reports an unhandled rejection.
    auto* e = std::get_if<error_value>(&outcome);
    auto* core = entangle::detail::current_core();
    if (e == nullptr || handled || core == nullptr)
      return;
    try {
      core->warn(fmt::format("an rpc promise was rejected and had no error "
                             "continuation: {}: {}",
                             e->name, e->message));
    } catch (...) {
      // nop: a warning must not throw from a destructor
    }
  }

  bool settled() const noexcept {
    return outcome.index() != 0;
  }

  void run(reaction& r) {
    if (auto* v = std::get_if<value>(&outcome)) {
      if (r.on_value)
        r.on_value(*v);
    } else if (auto* e = std::get_if<error_value>(&outcome)) {
      if (r.on_error)
        r.on_error(*e);
    }
  }

  void settle() {
    // Reactions may add reactions (to this promise: they are queued, since
    // it is settled now) or settle others; take the list first.
    auto rs = std::move(reactions);
    reactions.clear();
    for (auto& r : rs)
      run(r);
  }
};

} // namespace detail

promise promise::make() {
  this_context(); // throws outside a context: a promise belongs to one
  return promise{std::make_shared<detail::promise_state>()};
}

promise promise::make_rejected(error_value e) {
  auto p = make();
  p.st_->outcome = std::move(e);
  return p;
}

const promise& promise::then(value_fn on_value, error_fn on_error) const {
  if (!st_)
    throw type_error("then() on a null promise");
  if (on_error)
    st_->handled = true;
  detail::promise_state::reaction r{std::move(on_value), std::move(on_error)};
  if (!st_->settled()) {
    st_->reactions.push_back(std::move(r));
  } else {
    // Never synchronously inside then(): as a task of the running context.
    this_context().queue_task(
      [st = st_, r = std::move(r)]() mutable { st->run(r); });
  }
  return *this;
}

const promise& promise::on_error(error_fn fn) const {
  return then({}, std::move(fn));
}

void promise::resolve(value v) const {
  if (!st_ || st_->settled())
    return;
  st_->outcome = std::move(v);
  st_->settle();
}

void promise::reject(error_value e) const {
  if (!st_ || st_->settled())
    return;
  st_->outcome = std::move(e);
  st_->settle();
}

bool promise::pending() const noexcept {
  return st_ && !st_->settled();
}

bool promise::fulfilled() const noexcept {
  return st_ && st_->outcome.index() == 1;
}

bool promise::rejected() const noexcept {
  return st_ && st_->outcome.index() == 2;
}

const value* promise::result() const noexcept {
  return st_ ? std::get_if<value>(&st_->outcome) : nullptr;
}

const error_value* promise::error() const noexcept {
  return st_ ? std::get_if<error_value>(&st_->outcome) : nullptr;
}

} // namespace entangle::rpc
