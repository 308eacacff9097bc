// Flow control (issue #15): one-way throughput with a high-water mark that
// is never reached vs none, a stream's steady-state throughput vs plain
// posts, and the peak RSS of a flood with and without a limit.

#include "cases.hpp"

#include <functional>
#include <memory>
#include <string>

#include <entangle/all.hpp>

namespace bench {

using namespace entangle;

namespace {

runtime_config flow_config() {
  runtime_config cfg;
  cfg.warnings = false;
  return cfg;
}

/// Burns roughly `iters` loop iterations: a consumer slower than a post.
void spin(std::size_t iters) {
  volatile std::size_t sink = 0;
  for (std::size_t i = 0; i < iters; ++i)
    sink = sink + i;
}

} // namespace

double ent_stream_oneway(std::size_t n, std::size_t mark) {
  auto cfg = flow_config();
  runtime rt{cfg};
  std::int64_t t0 = 0;
  std::int64_t t1 = 0;
  rt.spawn("producer", [&](context& self) {
    auto s = make_stream<>({high_water_mark{mark}});
    self
      .spawn("consumer",
             [n, &t1](context& me) {
               me.on_message([n, &t1](message_event& ev) {
                 readable_stream<> in{ev.ports.at(0)};
                 auto count = std::make_shared<std::size_t>(0);
                 in.for_each([count](value&) { ++*count; })
                   .then([count, n, &t1](value&) {
                     if (*count == n)
                       t1 = now_ns();
                     this_context().close();
                   });
               });
             })
      .post_message("in", {s.readable.port()});
    auto out = s.writable;
    auto next = std::make_shared<std::size_t>(0);
    auto step = std::make_shared<std::function<void()>>();
    std::weak_ptr<std::function<void()>> weak = step;
    *step = [out, next, n, weak] {
      while (*next < n) {
        if (!out.write(double((*next)++))) {
          auto self = weak.lock();
          out.ready().then([self](value&) { (*self)(); });
          return;
        }
      }
      out.close();
    };
    t0 = now_ns();
    (*step)();
  });
  rt.run();
  return double(t1 - t0) / double(n);
}

double ent_flood_peak_rss(std::size_t n, std::size_t mark) {
  auto before = status_bytes("VmHWM:");
  auto cfg = flow_config();
  runtime rt{cfg};
  std::size_t refused = 0;
  rt.spawn("producer", [&](context& self) {
    message_channel ch;
    auto consumer = self.spawn("consumer", [n, mark](context& me) {
      me.on_message([n, mark](message_event& ev) {
        auto port = ev.ports.at(0);
        if (mark != 0)
          port.set_high_water_mark({mark});
        port.on_message([port](message_event& m) {
          spin(3000); // much slower than the producer
          if (m.data.as_string() == "end")
            port.close();
        });
        this_context().post_message("ready");
      });
    });
    consumer.post_message("port", {ch.port2()});
    auto port = ch.port1();
    port.on_close([](message_event&) { this_context().close(); });
    port.start();
    consumer.on_message([port, n, &refused](message_event&) {
      // A flood that ignores backpressure: 1 KiB strings as fast as the
      // loop goes; with a limit, what is past it is refused here.
      std::string kib(1024, 'x');
      for (std::size_t i = 0; i < n; ++i) {
        try {
          port.post_message(kib);
        } catch (const dom_exception&) {
          ++refused;
        }
      }
      // The end marker goes in when there is room.
      auto finish = std::make_shared<std::function<void()>>();
      std::weak_ptr<std::function<void()>> weak = finish;
      *finish = [port, weak] {
        try {
          port.post_message("end");
        } catch (const dom_exception&) {
          auto again = weak.lock(); // the timer holds it: no cycle
          this_context().set_timeout([again] { (*again)(); },
                                     std::chrono::milliseconds{1});
        }
      };
      (*finish)();
    });
  });
  rt.run();
  auto after = status_bytes("VmHWM:");
  return double(after > before ? after - before : 0);
}

} // namespace bench
