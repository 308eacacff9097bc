// The cast CAF's worker makes on every job it resumes
// (`dynamic_cast<abstract_actor*>(resumable*)`, for its logger), timed for
// three actor classes: derived from event_based_actor (what a context
// was), event_based_actor itself (raw CAF), and derived from
// scheduled_actor (what a context is now; docs/performance.md "CAF's fixed
// cost per hop"). Instructions per cast:
//   valgrind --tool=callgrind build-release/bench/caf_cast_probe eba_derived
//   callgrind_annotate --inclusive=yes callgrind.out.* | grep cast_loop
// (divide by the count printed); without valgrind it prints ns per cast.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/send.hpp>

namespace {

struct eba_derived : caf::event_based_actor {
  using caf::event_based_actor::event_based_actor;
  caf::behavior make_behavior() override {
    return {[](int) {}};
  }
};

struct sa_derived : caf::scheduled_actor,
                    caf::dynamically_typed_actor_base {
  using signatures = caf::none_t;
  using behavior_type = caf::behavior;
  using caf::scheduled_actor::scheduled_actor;
};

[[gnu::noinline]] std::size_t cast_loop(caf::resumable* job, int n) {
  std::size_t hits = 0;
  for (int i = 0; i < n; ++i) {
    auto* p = dynamic_cast<caf::abstract_actor*>(job);
    hits += p != nullptr;
    asm volatile("" ::: "memory"); // one cast per iteration
  }
  return hits;
}

template <class T>
void probe(caf::actor_system& sys, const char* what, int n) {
  auto hdl = sys.spawn<T, caf::lazy_init>();
  auto* job = dynamic_cast<caf::resumable*>(
    caf::actor_cast<caf::abstract_actor*>(hdl));
  auto t0 = std::chrono::steady_clock::now();
  auto hits = cast_loop(job, n);
  auto t1 = std::chrono::steady_clock::now();
  auto ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
  std::printf("%s: %d casts (%zu found), %.1f ns per cast\n", what, n, hits,
              ns);
  caf::anon_send_exit(hdl, caf::exit_reason::kill);
}

} // namespace

int main(int argc, char** argv) {
  std::string which = argc > 1 ? argv[1] : "all";
  int n = argc > 2 ? std::atoi(argv[2]) : 100000;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  if (which == "eba_derived" || which == "all")
    probe<eba_derived>(sys, "derived from event_based_actor", n);
  if (which == "eba" || which == "all")
    probe<caf::event_based_actor>(sys, "event_based_actor", n);
  if (which == "sa_derived" || which == "all")
    probe<sa_derived>(sys, "derived from scheduled_actor", n);
  return 0;
}
