// A chat room in a shared worker: S pages of one origin connect to the
// shared worker "chat.js"; each connect brings the worker a fresh port
// (the connect event). Every line a page posts, the worker relays to all
// other connected pages. Each page must receive every other page's lines,
// each sender's in order; it leaves (closes its port) when it has them
// all, and the worker ends once the room is empty.

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common.hpp"

namespace entangle::examples {

namespace {

constexpr const char* chat_origin = "https://chat.example";

struct results {
  std::mutex mu;
  std::map<std::string, std::uint64_t> received; // per page
  bool in_order = true;
  std::size_t joined_max = 0;
};

// chat.js: keep every client port; relay each line to the others.
void chat_worker(context& self, std::size_t pages,
                 std::shared_ptr<results> res, progress& prog) {
  auto room = std::make_shared<std::vector<message_port>>();
  auto joined = std::make_shared<std::size_t>(0);
  auto hellos = std::make_shared<std::size_t>(0);
  self.on_connect([room, joined, hellos, pages, res,
                   &prog](message_event& ev) {
    auto port = ev.ports.at(0);
    room->push_back(port);
    ++*joined;
    {
      std::lock_guard<std::mutex> guard{res->mu};
      res->joined_max = std::max(res->joined_max, *joined);
    }
    port.on_message([room, port, hellos, pages, &prog](message_event& m) {
      ++prog.delivered;
      if (m.data == value{"hello"}) {
        // Start the conversation once, when everybody has said hello, so
        // that every page hears every line.
        if (++*hellos == pages)
          for (auto& p : *room)
            p.post_message("start");
        return;
      }
      for (auto& other : *room)
        if (other != port && !other.closed())
          other.post_message(m.data);
    });
    port.on_close([room, port](message_event&) {
      room->erase(std::remove(room->begin(), room->end(), port), room->end());
      port.close();
    });
  });
}

void page(context& self, std::size_t index, const params& p,
          std::shared_ptr<results> res, progress& prog) {
  auto pages = p.size;
  auto lines = p.messages;
  auto me = self.name();
  auto chat = self.connect_shared_worker(
    "chat.js", [pages, res, &prog](context& w) {
      chat_worker(w, pages, res, prog);
    });
  auto port = chat.port();
  auto expected = (pages - 1) * lines;
  auto got = std::make_shared<std::uint64_t>(0);
  auto next = std::make_shared<std::map<std::string, double>>();
  auto pad = padding(p.payload);
  bool v = p.verbose && index == 1;
  port.on_message([port, got, next, expected, lines, me, pad, res, v,
                   &prog](message_event& m) {
    ++prog.delivered;
    if (m.data == value{"start"}) {
      say(v, "everyone is in; posting {} lines", lines);
      for (std::size_t i = 1; i <= lines; ++i)
        port.post_message(value::obj({{"from", me}, {"n", i}, {"pad", pad}}));
    } else {
      auto from = m.data["from"].as_string();
      auto n = m.data["n"].as_number();
      auto& want = (*next)[from];
      if (n != want + 1) {
        std::lock_guard<std::mutex> guard{res->mu};
        res->in_order = false;
      }
      want = n;
      ++*got;
    }
    if (*got == expected && !port.closed()) {
      {
        std::lock_guard<std::mutex> guard{res->mu};
        res->received[me] = *got;
      }
      say(v, "heard all {} lines of the others; leaving", expected);
      port.close();
    }
  });
  port.post_message("hello");
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  for (std::size_t i = 1; i <= p.size; ++i)
    rt.spawn(fmt::format("page-{}", i), chat_origin,
             [i, &p, res, &prog](context& c) { page(c, i, p, res, prog); });
  outcome out;
  out.channels = p.size; // one connection per page
  auto others = (p.size - 1) * p.messages;
  // hello + start per page, every line to the worker and to each other page
  out.expected = 2 * p.size + p.size * p.messages + p.size * others;
  if (!begin_checks(rt, p, prog, out))
    return out;
  std::lock_guard<std::mutex> guard{res->mu};
  expect(out, res->joined_max == p.size,
         fmt::format("{} pages were in the room at once, expected {} (one "
                     "shared worker instance)",
                     res->joined_max, p.size));
  expect(out, res->received.size() == p.size,
         fmt::format("{} of {} pages heard everything", res->received.size(),
                     p.size));
  for (auto& [who, n] : res->received)
    expect(out, n == others,
           fmt::format("{} heard {} lines, expected {}", who, n, others));
  expect(out, res->in_order, "some sender's lines arrived out of order");
  end_checks(rt, out,
             fmt::format("{} pages each heard all {} lines of the "
                         "others, in order, through one shared worker",
                         p.size, others));
  return out;
}

} // namespace

topology shared_chat_topology() {
  return {"shared-chat",
          "shared-worker chat: pages connect to one shared worker that "
          "relays every line to the other pages",
          "size: pages; messages: lines per page; payload: bytes of padding "
          "per line",
          3, 20, run};
}

} // namespace entangle::examples
