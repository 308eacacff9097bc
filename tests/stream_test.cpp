// Streams over ports ([stream], include/entangle/stream.hpp): order,
// close, abort and cancel with a reason reaching the other side, errors
// propagated, backpressure (the writer's ready, a slow consumer holding
// credit), typed streams, and transfers of either end mid-stream.

#include "support.hpp"

#include <cstdint>

#include "entangle/testing/catch.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;
using std::chrono::milliseconds;

namespace {

struct sample {
  std::int32_t seq = 0;
  std::string tag;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sample& x) {
  return f(caf::meta::type_name("test::sample"), x.seq, x.tag);
}

/// Writes `from`..`to` (exclusive) on `w`, waiting for credit whenever
/// write says the reader is full; closes after the last.
void pump(writable_stream<> w, int from, int to) {
  while (from < to) {
    if (!w.write(from++)) {
      w.ready().then([w, from, to](value&) { pump(w, from, to); });
      return;
    }
  }
  w.close();
}

std::string err(const error_value& e) {
  return e.name + ": " + e.message;
}

} // namespace

TEST_CASE("stream: chunks arrive in order, then the end; both closed() "
          "settle",
          "[stream]") {
  harness h;
  auto got = std::make_shared<std::vector<int>>();
  h.run([&h, got](context& self) {
    auto s = make_stream({high_water_mark{8}});
    auto w = self.spawn("reader", [&h, got](context& me) {
      me.on_message([&h, got](message_event& ev) {
        readable_stream<> in{ev.ports.at(0)};
        in.for_each([got](value& v) {
            got->push_back(static_cast<int>(v.as_number()));
          })
          .then(
            [&h](value&) {
              h.log.add("reader: closed");
              this_context().close();
            },
            [&h](const error_value& e) { h.log.add(err(e)); });
      });
    });
    w.post_message("stream", {s.readable.port()});
    s.writable.closed().then([&h](value&) { h.log.add("writer: closed"); });
    pump(s.writable, 0, 1000);
  });
  REQUIRE(got->size() == 1000);
  for (int i = 0; i < 1000; ++i)
    REQUIRE((*got)[static_cast<std::size_t>(i)] == i);
  CHECK(sorted(h.log.lines()) == lines{"reader: closed", "writer: closed"});
  h.require_clean();
}

TEST_CASE("stream: write reports backpressure at the mark and ready waits "
          "for room",
          "[stream]") {
  testkit kit;
  std::vector<std::string> log;
  writable_stream<> w;
  readable_stream<> r;
  auto page = kit.spawn("page", [&](context& self) {
    self.set_timeout([] {}, std::chrono::hours{1}); // keeps it alive
    auto s = make_stream({high_water_mark{3}});
    w = s.writable;
    r = s.readable;
    std::string room;
    for (int i = 1; i <= 3; ++i)
      room += yn(w.write(i));
    log.push_back(room);
    log.push_back("desired " + std::to_string(*w.desired_size()));
    w.ready().then([&](value&) {
      log.push_back("ready, desired " + std::to_string(*w.desired_size()));
    });
  });
  kit.run();
  CHECK(log == lines{"truetruefalse", "desired 0"});
  kit.inject(page, [&] {
    r.for_each([&](value& v) { log.push_back("got " + to_string(v)); });
  });
  kit.run();
  CHECK(log
        == lines{"truetruefalse", "desired 0", "got 1", "got 2", "got 3",
                 "ready, desired 3"});
}

TEST_CASE("stream: a slow consumer holds its credit until it is done",
          "[stream]") {
  // The consumer answers each chunk with a promise settled 10 ms later:
  // the writer never has more than the mark unread or in processing.
  testkit kit;
  std::vector<int> got;
  std::int64_t least_credit = 100;
  std::size_t most_queued = 0;
  message_port reader_port;
  kit.spawn("page", [&](context&) {
    auto s = make_stream({high_water_mark{4}});
    auto w = s.writable;
    reader_port = s.readable.port();
    readable_stream<> r{reader_port};
    r.for_each([&](value& v) {
      got.push_back(static_cast<int>(v.as_number()));
      auto done = promise<value>::make();
      this_context().set_timeout([done] { done.resolve(value{}); },
                                 milliseconds{10});
      return done;
    });
    // The writer pumps whenever it has room and records its credit.
    auto next = std::make_shared<int>(0);
    auto write_some = std::make_shared<std::function<void()>>();
    // Weak inside, strong in the pending continuation: no cycle to leak.
    std::weak_ptr<std::function<void()>> weak = write_some;
    *write_some = [&, w, next, weak] {
      while (*next < 40 && w.has_room())
        w.write((*next)++);
      least_credit = std::min(least_credit, *w.desired_size());
      if (*next < 40)
        w.ready().then([again = weak.lock()](value&) { (*again)(); });
      else
        w.close();
    };
    (*write_some)();
  });
  for (int i = 0; i < 100 && got.size() < 40; ++i) {
    kit.run();
    most_queued = std::max(most_queued, kit.queued(reader_port));
    kit.advance(milliseconds{10});
  }
  kit.run();
  REQUIRE(got.size() == 40);
  CHECK(std::is_sorted(got.begin(), got.end()));
  CHECK(least_credit >= 0); // never more than the mark outstanding
  CHECK(most_queued <= 4);
}

TEST_CASE("stream: abort's reason reaches the reader after what was "
          "written; cancel's reason reaches the writer",
          "[stream]") {
  harness h;
  h.run([&h](context& self) {
    auto a = make_stream();
    auto b = make_stream();
    auto w = self.spawn("reader", [&h](context& me) {
      me.on_message([&h](message_event& ev) {
        readable_stream<> in{ev.ports.at(0)};
        in.for_each([&h](value& v) { h.log.add("a got " + to_string(v)); })
          .then([&h](value&) { h.log.add("a closed?"); },
                [&h](const error_value& e) { h.log.add("a: " + err(e)); });
        readable_stream<> other{ev.ports.at(1)};
        other.for_each([other](value&) {
          other.cancel(error_value{"RangeError", "enough"});
        });
      });
    });
    w.post_message("streams", {a.readable.port(), b.readable.port()});
    a.writable.write(1);
    a.writable.write(2);
    a.writable.abort(error_value{"DataError", "bad source"});
    h.log.add(outcome([&] { a.writable.write(3); }));
    auto bw = b.writable;
    bw.write("x");
    bw.closed().then([](value&) {},
                     [&h, bw](const error_value& e) {
                       h.log.add("b: " + err(e));
                       h.log.add("write: " + outcome([&] { bw.write(1); }));
                       bw.ready().then([](value&) {},
                                       [&h](const error_value& e2) {
                                         h.log.add("ready: " + e2.name);
                                         this_context().close();
                                       });
                     });
  });
  CHECK(sorted(h.log.lines())
        == sorted(lines{"DataError", "a got 1", "a got 2",
                        "a: DataError: bad source", "b: RangeError: enough",
                        "write: RangeError", "ready: RangeError"}));
  h.require_clean();
}

TEST_CASE("stream: an error in the consumer cancels the stream; a writer "
          "or reader whose context ends errors the other side",
          "[stream]") {
  harness h;
  h.run([&h](context& self) {
    auto s = make_stream();
    auto dying = make_stream();
    auto lost = make_stream();
    auto left = std::make_shared<int>(3);
    auto seen = [&h, left](std::string what) {
      h.log.add(std::move(what));
      if (--*left == 0)
        this_context().close();
    };
    auto reader = self.spawn("reader", [](context& me) {
      me.on_message([](message_event& ev) {
        readable_stream<> in{ev.ports.at(0)};
        in.for_each([](value& v) {
          if (v == value{2})
            throw dom_exception("SyntaxError", "chunk 2 is malformed");
        });
        readable_stream<> orphan{ev.ports.at(1)};
        orphan.for_each([](value&) {}).then(
          [](value&) {},
          [](const error_value& e) {
            this_context().post_message("orphan: " + e.name);
          });
        readable_stream<> goner{ev.ports.at(2)};
        goner.for_each([](value&) {}); // goes when this context is ended
      });
    });
    auto writer = self.spawn("writer", [](context& me) {
      me.on_message([](message_event& ev) {
        writable_stream<> out{ev.ports.at(0)};
        out.write("half");
        this_context().close(); // ends without close(): an error downstream
      });
    });
    reader.post_message("streams", {s.readable.port(), dying.readable.port(),
                                    lost.readable.port()});
    writer.post_message("stream", {dying.writable.port()});
    s.writable.write(1);
    s.writable.write(2);
    s.writable.closed().then([](value&) {}, [seen](const error_value& e) {
      seen("writer: " + err(e));
    });
    auto lw = lost.writable;
    lw.closed().then([](value&) {},
                     [seen](const error_value& e) { seen("lost: " + e.name); });
    reader.on_message([seen, reader](message_event& m) {
      seen(label(m));
      reader.terminate(); // the reader of `lost` goes with it
    });
  });
  CHECK(sorted(h.log.lines())
        == sorted(lines{"writer: SyntaxError: chunk 2 is malformed",
                        "orphan: AbortError", "lost: AbortError"}));
}

TEST_CASE("stream: typed streams carry C++ structs", "[stream]") {
  harness h{[](runtime_config& c) {
    c.add_message_type<sample>("test::sample");
  }};
  h.run([&h](context& self) {
    auto s = make_stream<sample>({high_water_mark{2}});
    auto w = self.spawn("reader", [&h](context& me) {
      me.on_message([&h](message_event& ev) {
        readable_stream<sample> in{ev.ports.at(0)};
        in.for_each([&h](sample& x) {
            h.log.add(x.tag + std::to_string(x.seq));
          })
          .then([&h](value&) {
            h.log.add("end");
            this_context().close();
          });
      });
    });
    w.post_message("stream", {s.readable.port()});
    auto out = s.writable;
    auto write = std::make_shared<std::function<void(int)>>();
    std::weak_ptr<std::function<void(int)>> weak = write; // no cycle
    *write = [out, weak](int i) {
      if (i == 5) {
        out.close();
        return;
      }
      out.ready().then([out, again = weak.lock(), i](value&) {
        out.write(sample{i, "s"});
        (*again)(i + 1);
      });
    };
    (*write)(0);
  });
  CHECK(h.log.lines() == lines{"s0", "s1", "s2", "s3", "s4", "end"});
  h.require_clean();
}

TEST_CASE("stream: a typed chunk holds its bytes against a byte mark while "
          "its consumer works on it",
          "[stream]") {
  // A byte-only mark of 1: any one chunk fills the reader. While the
  // consumer's promise for chunk 0 is pending, the writer has no room
  // (the chunk still counts its encoded bytes and type name, as
  // message_size does); settling it gives the room back.
  testkit kit{[](runtime_config& c) {
    c.add_message_type<sample>("test::sample");
  }};
  std::vector<std::string> log;
  std::vector<promise<value>> pending;
  writable_stream<sample> w;
  int written = 0;
  auto page = kit.spawn("page", [&](context& self) {
    self.set_timeout([] {}, std::chrono::hours{1}); // keeps it alive
    high_water_mark m;
    m.bytes = 1;
    auto s = make_stream<sample>({m});
    w = s.writable;
    s.readable.for_each([&](sample& x) {
      log.push_back("got " + std::to_string(x.seq));
      auto done = promise<value>::make();
      pending.push_back(done);
      return done;
    });
    w.write(sample{written++, "typed"});
  });
  kit.run();
  REQUIRE(log == lines{"got 0"});
  kit.inject(page, [&] {
    log.push_back("room " + yn(w.has_room()));
    w.ready().then([&](value&) {
      log.push_back("ready");
      w.write(sample{written++, "typed"});
    });
  });
  kit.run();
  CHECK(log == lines{"got 0", "room false"});
  kit.inject(page, [&] { pending.at(0).resolve(value{}); });
  kit.run();
  CHECK(log == lines{"got 0", "room false", "ready", "got 1"});
  CHECK(written == 2);
}

TEST_CASE("stream: either end moves mid-stream; order and backpressure "
          "hold",
          "[stream]") {
  constexpr int total = 3000;
  harness h;
  auto got = std::make_shared<std::vector<int>>();
  auto most_unread = std::make_shared<std::int64_t>(0);
  h.run([&h, got, most_unread](context& self) {
    auto s = make_stream({high_water_mark{8}});
    // 8 chunks queued before either end moves.
    for (int i = 0; i < 8; ++i)
      s.writable.write(i);
    auto reader = self.spawn("reader", [got](context& me) {
      me.on_message([got](message_event& ev) {
        readable_stream<> in{ev.ports.at(0)};
        in.for_each([got](value& v) {
            got->push_back(static_cast<int>(v.as_number()));
          })
          .then([](value&) { this_context().close(); });
      });
    });
    // The writer writes up to 1500, then hands its end to a second writer
    // that writes the rest: both respect the credit.
    auto second = self.spawn("writer-2", [most_unread](context& me) {
      me.on_message([most_unread](message_event& ev) {
        writable_stream<> out{ev.ports.at(0)};
        auto go = std::make_shared<std::function<void(int)>>();
        std::weak_ptr<std::function<void(int)>> weak = go; // no cycle
        *go = [out, weak, most_unread](int i) {
          while (i < total && out.has_room()) {
            out.write(i++);
            *most_unread
              = std::max(*most_unread, 8 - out.desired_size().value_or(8));
          }
          if (i == total) {
            out.close();
            this_context().close();
          } else
            out.ready().then([again = weak.lock(), i](value&) { (*again)(i); });
        };
        (*go)(static_cast<int>(ev.data.as_number()));
      });
    });
    reader.post_message("in", {s.readable.port()});
    auto w = s.writable;
    auto go = std::make_shared<std::function<void(int)>>();
    std::weak_ptr<std::function<void(int)>> weak = go; // no cycle
    *go = [w, weak, second, most_unread](int i) {
      while (i < 1500 && w.has_room()) {
        w.write(i++);
        *most_unread = std::max(*most_unread, 8 - w.desired_size().value_or(8));
      }
      if (i == 1500)
        second.post_message(1500, {w.port()});
      else
        w.ready().then([again = weak.lock(), i](value&) { (*again)(i); });
    };
    (*go)(8);
  });
  REQUIRE(got->size() == static_cast<std::size_t>(total));
  for (int i = 0; i < total; ++i)
    REQUIRE((*got)[static_cast<std::size_t>(i)] == i);
  CHECK(*most_unread <= 8);
  h.require_clean_exits();
}

TEST_CASE("stream: pipe_to runs a transform with bounded credit; misuse "
          "gets the spec's errors",
          "[stream]") {
  harness h;
  h.run([&h](context& self) {
    auto src = make_stream({high_water_mark{4}});
    auto dst = make_stream({high_water_mark{4}});
    auto sink = self.spawn("sink", [&h](context& me) {
      me.on_message([&h](message_event& ev) {
        readable_stream<> in{ev.ports.at(0)};
        auto sum = std::make_shared<double>(0);
        in.for_each([sum](value& v) { *sum += v.as_number(); })
          .then([&h, sum](value&) {
            h.log.add("sum " + std::to_string(static_cast<int>(*sum)));
            this_context().close();
          });
      });
    });
    sink.post_message("in", {dst.readable.port()});
    auto piped = src.readable.pipe_to(dst.writable);
    h.log.add(outcome([&] { src.readable.port(); })); // locked
    h.log.add(outcome([&] { src.readable.for_each([](value&) {}); }));
    piped.then([&h](value&) { h.log.add("piped"); });
    pump(src.writable, 1, 101);
    readable_stream<> null_stream;
    h.log.add(outcome([&] { null_stream.closed(); }));
  });
  CHECK(sorted(h.log.lines())
        == sorted(lines{"InvalidStateError", "InvalidStateError",
                        "type_error:TypeError", "piped", "sum 5050"}));
  h.require_clean();
}
