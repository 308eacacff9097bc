// BroadcastChannel fan-out: a page spawns N subscriber workers; each joins
// the BroadcastChannel "news" and tells the page it is ready. The page then
// joins "news" too and publishes M items once: every subscriber receives
// every item, in publishing order, and reports its count and checksum back
// over its worker port.

#include <memory>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::atomic<std::uint64_t> reports{0};
  std::atomic<std::uint64_t> items{0};
  std::atomic<bool> all_correct{true};
};

// A subscriber: count and checksum the news, report after M items.
void subscriber(context& self, std::size_t items, progress& prog) {
  broadcast_channel news{"news"};
  auto got = std::make_shared<std::size_t>(0);
  auto sum = std::make_shared<double>(0);
  auto ordered = std::make_shared<bool>(true);
  news.on_message([news, got, sum, ordered, items, &prog](message_event& m) {
    ++prog.delivered;
    auto n = m.data["n"].as_number();
    if (n != static_cast<double>(*got + 1))
      *ordered = false;
    ++*got;
    *sum += n;
    if (*got == items) {
      this_context().post_message(
        value::obj({{"items", *got}, {"sum", *sum}, {"ordered", *ordered}}));
      news.close();
    }
  });
  self.post_message("ready"); // joined: the page may publish now
}

void page(context& self, const params& p, std::shared_ptr<results> res,
          progress& prog) {
  auto subs = p.size;
  auto items = p.messages;
  bool v = p.verbose;
  auto ready = std::make_shared<std::size_t>(0);
  auto pad = padding(p.payload);
  double want = static_cast<double>(items) * (items + 1) / 2;
  for (std::size_t i = 1; i <= subs; ++i) {
    auto w = self.spawn(fmt::format("subscriber-{}", i),
                        [items, &prog](context& c) {
                          subscriber(c, items, prog);
                        });
    w.on_message([ready, subs, items, pad, res, want, v,
                  &prog](message_event& ev) {
      ++prog.delivered;
      if (ev.data == value{"ready"}) {
        if (++*ready < subs)
          return;
        say(v, "all {} subscribers joined \"news\"; publishing {} items",
            subs, items);
        broadcast_channel news{"news"};
        for (std::size_t n = 1; n <= items; ++n)
          news.post_message(value::obj({{"n", n}, {"pad", pad}}));
        news.close();
        return;
      }
      res->items += static_cast<std::uint64_t>(ev.data["items"].as_number());
      if (ev.data["sum"].as_number() != want
          || ev.data["ordered"] != value{true})
        res->all_correct = false;
      if (++res->reports == subs) {
        say(v, "every subscriber got every item; closing");
        this_context().close();
      }
    });
  }
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.spawn("publisher", [&p, res, &prog](context& c) { page(c, p, res, prog); });
  outcome out;
  out.channels = p.size; // the workers' implicit pairs (plus "news")
  out.expected = p.size * (p.messages + 2);
  if (!begin_checks(rt, p, prog, out))
    return out;
  expect(out, res->reports == p.size,
         fmt::format("{} of {} subscribers reported", res->reports.load(),
                     p.size));
  expect(out, res->items == p.size * p.messages,
         fmt::format("{} items received in all, expected {}",
                     res->items.load(), p.size * p.messages));
  expect(out, res->all_correct, "a subscriber's checksum or order was wrong");
  end_checks(rt, out,
             fmt::format("{} subscribers each received all {} items in "
                         "order (checksums match)",
                         p.size, p.messages));
  return out;
}

} // namespace

topology broadcast_topology() {
  return {"broadcast",
          "BroadcastChannel fan-out: one publisher, N subscriber workers on "
          "\"news\"; each gets every item in order",
          "size: subscribers; messages: items published; payload: bytes of "
          "padding per item",
          4, 100, run};
}

} // namespace entangle::examples
