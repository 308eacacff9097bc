// A producer streams M records through a slow transform to a sink over two
// streams (include/entangle/stream.hpp): three workers, each given its ends
// (ports) by the page. Each stream's reader has a high-water mark of
// `size` records. The producer writes while the transform has room and
// waits for `ready` when it has none; the transform holds each record's
// credit until it has processed it (a pause every 1000 records stands for
// slow I/O) and written it on, under the sink's credit. So memory stays
// bounded however fast the producer could go: the producer reports the
// queue depth at the transform (its mark minus the credit it sees) as it
// goes. Checked: every record arrives once, in order, transformed, and the
// depth never passed the hard limit (it stays about the mark).

#include <sys/resource.h>

#include <functional>
#include <memory>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::atomic<std::uint64_t> received{0};
  std::atomic<bool> in_order{true};
  std::atomic<std::int64_t> max_depth{0};
  std::atomic<std::int64_t> depth_sum{0};
  std::atomic<std::uint64_t> depth_samples{0};
};

value record(std::uint64_t seq, const std::string& pad) {
  auto n = static_cast<double>(seq);
  return pad.empty() ? value{n} : value::obj({{"seq", n}, {"pad", pad}});
}

double seq_of(const value& v) {
  return v.is_number() ? v.as_number() : v["seq"].as_number();
}

/// Peak resident set of this process, in MiB.
double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

void producer(context& self, const params& p, std::shared_ptr<results> res) {
  self.on_message([p, res](message_event& ev) {
    writable_stream<> out{ev.ports.at(0)};
    auto mark = static_cast<std::int64_t>(p.size);
    auto total = p.messages;
    auto report = std::max<std::uint64_t>(total / 5, 1);
    auto pad = padding(p.payload);
    auto next = std::make_shared<std::uint64_t>(0);
    // Writes until the transform has no room, then waits for `ready`; the
    // pending continuation is what keeps the loop alive (no cycle).
    auto step = std::make_shared<std::function<void()>>();
    std::weak_ptr<std::function<void()>> weak = step;
    *step = [out, mark, total, report, pad, next, res, weak, v = p.verbose] {
      while (*next < total) {
        bool room = out.write(record(*next, pad));
        ++*next;
        auto depth = mark - out.desired_size().value_or(mark);
        res->depth_sum += depth;
        ++res->depth_samples;
        if (depth > res->max_depth)
          res->max_depth = depth;
        if (*next % report == 0)
          say(v, "{} records written; queue depth at the transform {} "
                 "(mark {}, max so far {})",
              *next, depth, mark, res->max_depth.load());
        if (!room) {
          auto self = weak.lock();
          out.ready().then([self](value&) { (*self)(); });
          return;
        }
      }
      out.close();
      this_context().close(); // done: the close is queued behind the chunks
    };
    (*step)();
  });
}

void transform(context& self, progress& prog) {
  self.on_message([&prog](message_event& ev) {
    readable_stream<> in{ev.ports.at(0)};
    writable_stream<> out{ev.ports.at(1)};
    auto n = std::make_shared<std::uint64_t>(0);
    in.for_each([out, n, &prog](value& v) -> promise<value> {
        ++prog.delivered;
        value y = v.is_number() ? value{v.as_number() * 2}
                                : value::obj({{"seq", seq_of(v) * 2},
                                              {"pad", v["pad"]}});
        if (++*n % 1000 == 0) {
          // Slow: a 1 ms pause (I/O, say). The record's credit is held
          // until it is written on.
          auto pause = promise<value>::make();
          this_context().set_timeout([pause] { pause.resolve({}); },
                                     std::chrono::milliseconds{1});
          return pause.then([out](value&) { return out.ready(); })
            .then([out, y](value&) { out.write(y); });
        }
        if (out.has_room()) {
          out.write(y);
          return {};
        }
        return out.ready().then([out, y](value&) { out.write(y); });
      })
      .then(
        [out](value&) {
          out.close();
          this_context().close();
        },
        [out](const error_value& e) {
          out.abort(e);
          this_context().close();
        });
  });
}

void sink(context& self, std::shared_ptr<results> res, progress& prog) {
  self.on_message([res, &prog](message_event& ev) {
    readable_stream<> in{ev.ports.at(0)};
    auto expect_next = std::make_shared<double>(0);
    in.for_each([res, expect_next, &prog](value& v) {
        ++prog.delivered;
        if (seq_of(v) != *expect_next)
          res->in_order = false;
        *expect_next += 2;
        ++res->received;
      })
      .then([](value&) { this_context().close(); },
            [](const error_value&) { this_context().close(); });
  });
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.spawn("page", [&p, res, &prog](context& self) {
    high_water_mark mark{p.size};
    auto first = make_stream<>({mark});
    auto second = make_stream<>({mark});
    say(p.verbose, "producer -> transform -> sink, {} records, mark {} "
                   "records per stream",
        p.messages, p.size);
    self.spawn("producer", [&p, res](context& c) { producer(c, p, res); })
      .post_message("out", {first.writable.port()});
    self.spawn("transform", [&prog](context& c) { transform(c, prog); })
      .post_message("in, out",
                    {first.readable.port(), second.writable.port()});
    self.spawn("sink", [res, &prog](context& c) { sink(c, res, prog); })
      .post_message("in", {second.readable.port()});
  });
  outcome out;
  out.channels = 2 + 3; // the streams and the workers' implicit pairs
  out.expected = 2 * p.messages;
  if (!begin_checks(rt, p, prog, out))
    return out;
  auto samples = std::max<std::uint64_t>(res->depth_samples.load(), 1);
  auto mean = static_cast<double>(res->depth_sum.load())
              / static_cast<double>(samples);
  say(p.verbose, "steady queue depth at the transform: mean {:.1f}, max {} "
                 "(mark {}); peak RSS {:.1f} MiB",
      mean, res->max_depth.load(), p.size, peak_rss_mib());
  expect(out, res->received == p.messages,
         fmt::format("the sink got {} records, expected {}",
                     res->received.load(), p.messages));
  expect(out, res->in_order, "records reached the sink out of order");
  // The mark is soft: a batch the transform's event loop takes while its
  // consumer is busy counts as read until each record is buffered and
  // held again, so the depth may pass the mark briefly; never the hard
  // limit (2 x mark).
  expect(out,
         res->max_depth.load() <= 2 * static_cast<std::int64_t>(p.size),
         fmt::format("the queue depth at the transform reached {}, past the "
                     "hard limit {}",
                     res->max_depth.load(), 2 * p.size));
  end_checks(rt, out,
             fmt::format("all {} records in order through a slow "
                         "transform; queue depth at most {} (mark {}, hard "
                         "limit {})",
                         p.messages, res->max_depth.load(), p.size,
                         2 * p.size));
  return out;
}

} // namespace

topology stream_flow_topology() {
  return {"stream-flow",
          "stream-flow: a producer streams records through a slow transform "
          "to a sink with bounded queues (credit-based backpressure)",
          "size: each stream's high-water mark (records); messages: "
          "records; payload: bytes of padding per record",
          64, 1000000, run};
}

} // namespace entangle::examples
