// Raw-CAF baselines: plain event-based actors exchanging the same payloads
// the entangle cases post, on CAF's default scheduler.

#include "cases.hpp"

#include <future>
#include <memory>

#include <caf/all.hpp>

#include <entangle/value.hpp>

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::value)

namespace bench {

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using bytes = std::vector<std::uint8_t>;

struct pp_state {
  std::size_t count = 0;
  std::int64_t t0 = 0;
};

// Echoes whatever it gets back to the sender, copying or moving it.
template <class T>
caf::behavior echo(caf::event_based_actor* self, bool move) {
  return {
    [self, move](T& x) {
      auto to = caf::actor_cast<caf::actor>(self->current_sender());
      if (move)
        self->send(to, std::move(x));
      else
        self->send(to, static_cast<const T&>(x));
    },
  };
}

template <class T>
double pingpong(std::size_t n, std::size_t warm, T payload, bool move) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<double> result;
  auto pong = sys.spawn(echo<T>, move);
  sys.spawn([&, pong](caf::stateful_actor<pp_state>* self) -> caf::behavior {
    self->send(pong, payload);
    return {
      [=, &result](T& x) {
        auto& st = self->state;
        ++st.count;
        if (st.count == warm)
          st.t0 = now_ns();
        if (st.count == warm + n) {
          result.set_value(double(now_ns() - st.t0) / double(n));
          self->send_exit(pong, caf::exit_reason::user_shutdown);
          self->quit();
          return;
        }
        if (move)
          self->send(pong, std::move(x));
        else
          self->send(pong, static_cast<const T&>(x));
      },
    };
  });
  return result.get_future().get();
}

struct sink_state {
  std::size_t count = 0;
};

} // namespace

double caf_pingpong_number(std::size_t n) {
  return pingpong<double>(n, n / 10 + 1, 42.0, false);
}

double caf_pingpong_object(std::size_t n) {
  return pingpong<entangle::value>(n, n / 10 + 1, small_object(), false);
}

double caf_pingpong_bytes(std::size_t n, bool move) {
  return pingpong<bytes>(n, n / 10 + 1, bytes(big_payload_bytes, 7), move);
}

double caf_oneway(std::size_t n) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<double> result;
  std::int64_t t0 = 0; // written by the producer before its first send
  auto sink = sys.spawn([&](caf::stateful_actor<sink_state>* self)
                          -> caf::behavior {
    return {
      [=, &result, &t0](double) {
        if (++self->state.count == n) {
          result.set_value(double(now_ns() - t0) / double(n));
          self->quit();
        }
      },
    };
  });
  sys.spawn([&, sink](caf::event_based_actor* self) {
    t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i)
      self->send(sink, double(i));
  });
  return result.get_future().get();
}

namespace {

struct hub_state {
  std::vector<caf::actor> workers;
  std::size_t replies = 0;
  std::size_t round = 0;
  std::int64_t t0 = 0;
};

} // namespace

double caf_fan(std::size_t n, std::size_t rounds) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<double> result;
  std::vector<caf::actor> workers;
  for (std::size_t i = 0; i < n; ++i)
    workers.push_back(sys.spawn(echo<double>, false));
  sys.spawn([&result, workers, rounds](caf::stateful_actor<hub_state>* self)
              -> caf::behavior {
    self->state.workers = workers;
    auto warm = rounds / 10 + 1;
    auto blast = [self] {
      for (auto& w : self->state.workers)
        self->send(w, double(self->state.round));
    };
    blast();
    return {
      [=, &result](double) {
        auto& st = self->state;
        if (++st.replies < st.workers.size())
          return;
        st.replies = 0;
        if (++st.round == warm)
          st.t0 = now_ns();
        if (st.round == warm + rounds) {
          result.set_value(double(now_ns() - st.t0) / double(rounds));
          for (auto& w : st.workers)
            self->send_exit(w, caf::exit_reason::user_shutdown);
          self->quit();
          return;
        }
        blast();
      },
    };
  });
  workers.clear(); // the hub holds the only references now
  return result.get_future().get();
}

double caf_handle_rtt(std::size_t transfers) {
  // The CAF analogue of handing over a capability: send an actor handle
  // to another actor and wait for its acknowledgement.
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<double> result;
  auto receiver = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {
      [self](const caf::actor& cap) {
        self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                   done_atom::value);
        static_cast<void>(cap);
      },
    };
  });
  auto cap = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](go_atom) {}};
  });
  sys.spawn([&, receiver, cap](caf::stateful_actor<pp_state>* self)
              -> caf::behavior {
    self->state.t0 = now_ns();
    self->send(receiver, cap);
    return {
      [=, &result](done_atom) {
        auto& st = self->state;
        if (++st.count == transfers) {
          result.set_value(double(now_ns() - st.t0) / double(transfers));
          self->send_exit(receiver, caf::exit_reason::user_shutdown);
          self->send_exit(cap, caf::exit_reason::user_shutdown);
          self->quit();
          return;
        }
        self->send(receiver, cap);
      },
    };
  });
  return result.get_future().get();
}

double caf_idle_actor_bytes(std::size_t n, bool heap) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::vector<caf::actor> actors;
  actors.reserve(n);
  std::atomic<std::size_t> ready{0};
  auto before = heap ? heap_bytes() : rss_bytes();
  for (std::size_t i = 0; i < n; ++i)
    actors.push_back(
      sys.spawn([&ready](caf::event_based_actor*) -> caf::behavior {
        ready.fetch_add(1);
        return {[](go_atom) {}};
      }));
  // Spawning enqueues an init job per actor: count them as idle once run.
  while (ready.load() < n)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto after = heap ? heap_bytes() : rss_bytes();
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  return (double(after) - double(before)) / double(n);
}

} // namespace bench
