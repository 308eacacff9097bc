// The non-template parts of include/entangle/promise.hpp: where reactions
// run (the running context's task queue) and how errors are reported.

#include "entangle/promise.hpp"

#include <deque>
#include <exception>

#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "entangle/context.hpp"
#include "entangle/error.hpp"

namespace entangle::detail {

void queue_reaction(std::function<void()> fn) {
  this_context().queue_task(std::move(fn));
}

void require_context(const char* what) {
  if (current_core() == nullptr)
    throw dom_exception(std::string{error_name::invalid_state},
                        fmt::format("{} outside any context: a promise "
                                    "belongs to the context that makes it",
                                    what));
}

namespace {

/// The reactions of the settlements now running on this thread (null when
/// none runs): one queue, drained by the outermost settlement.
[[gnu::tls_model("initial-exec")]] thread_local std::deque<
  std::function<void()>>* reactions_running = nullptr;

} // namespace

void run_reaction(std::function<void()> fn) {
  if (reactions_running != nullptr) {
    reactions_running->push_back(std::move(fn));
    return;
  }
  std::deque<std::function<void()>> queue;
  queue.push_back(std::move(fn));
  reactions_running = &queue;
  struct reset {
    ~reset() {
      reactions_running = nullptr;
    }
  } on_exit;
  while (!queue.empty()) {
    auto next = std::move(queue.front());
    queue.pop_front();
    next(); // a continuation's exception rejects its promise (run_into)
  }
}

void throw_null_promise() {
  throw type_error("then() on a null promise");
}

void report_unhandled(const error_value& e) noexcept {
  auto* core = current_core();
  if (core == nullptr)
    return;
  try {
    core->warn(fmt::format("a promise was rejected and nothing observed it: "
                           "{}: {}",
                           e.name, e.message));
  } catch (...) {
    // nop: a warning must not throw from a destructor
  }
}

error_value current_error() noexcept {
  try {
    throw;
  } catch (const dom_exception& e) {
    return error_value{e.name(), e.message()};
  } catch (const std::exception& e) {
    return error_value{"Error", e.what()};
  } catch (...) {
    return error_value{"Error", "an exception that is not a std::exception"};
  }
}

} // namespace entangle::detail
