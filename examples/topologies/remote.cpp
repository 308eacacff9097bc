// Two topologies across real processes (issue #14): entangle-run starts
// copies of itself as child processes on 127.0.0.1 (port 0) and talks to
// them by entangle:// URL. Each role can also be run by hand:
//   entangle-run remote-pipeline --listen 0     # a stage server
//   entangle-run remote-chat --listen 0         # the hub
//   entangle-run remote-chat --connect entangle://127.0.0.1:PORT/hub
//
// remote-pipeline: three processes. The first (this one) sends numbers to
// a stage in process 2 (+1), which sends them on to a stage in process 3
// (x2), which sends them back here. The port process 3 answers on is one
// end of a channel made here and handed from the first process to the
// last; the port process 2 sends on is this process's connection to
// process 3, handed to process 2.
//
// remote-chat: a hub (this process) and `size` client processes, each
// connected by URL. Once all joined, each posts `messages` lines; the hub
// sends every line to every client; each client checks it got them all,
// each sender's in order, then leaves.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <stdexcept>
#include <thread>
#include <map>
#include <memory>
#include <vector>

#include "common.hpp"

extern char** environ;

namespace entangle::examples {

namespace {

/// A copy of this program as a child process, with a pipe on its stdin
/// (it ends when that closes) and one on its stdout (for "listening N").
class process {
public:
  explicit process(std::vector<std::string> args) {
    char exe[PATH_MAX];
    auto n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
      throw std::runtime_error("cannot find this program's path");
    exe[n] = '\0';
    int in[2];
    int out[2];
    // Close-on-exec: a later child must not inherit this one's stdin
    // (it would never see EOF).
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    args.insert(args.begin(), exe);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, exe, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (rc != 0)
      throw std::runtime_error("cannot start a child process");
  }

  process(const process&) = delete;
  process& operator=(const process&) = delete;

  ~process() {
    wait(std::chrono::seconds{5});
    if (out_ >= 0)
      ::close(out_);
  }

  /// The port a `--listen 0` child reports (0 if it did not).
  std::uint16_t port() {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      char c;
      if (::read(out_, &c, 1) != 1)
        break;
      if (c == '\n')
        break;
      line.push_back(c);
    }
    if (line.rfind("listening ", 0) != 0)
      return 0;
    return static_cast<std::uint16_t>(std::stoi(line.substr(10)));
  }

  /// Closes its stdin, waits up to `timeout` (then kill -9); its exit code.
  int wait(std::chrono::milliseconds timeout) {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
    if (pid_ > 0) {
      auto deadline = std::chrono::steady_clock::now() + timeout;
      while (::waitpid(pid_, &status_, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status_, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
      }
      pid_ = -1;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128;
  }

private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int status_ = 0;
};

/// A server role: listens, prints "listening N", serves until stdin closes.
outcome serve(runtime& rt, const params& p) {
  auto port = remote::listen(rt, static_cast<std::uint16_t>(p.listen),
                             "127.0.0.1");
  fmt::print("listening {}\n", port);
  std::fflush(stdout);
  char buf[64];
  while (::read(0, buf, sizeof buf) > 0)
    ; // nop
  rt.stop();
  outcome out;
  out.ok = true;
  out.verdict = fmt::format("served on 127.0.0.1:{}", port);
  return out;
}

std::string url(std::uint16_t port, const char* name) {
  return fmt::format("entangle://127.0.0.1:{}/{}", port, name);
}

// -- remote-pipeline ----------------------------------------------------------

/// A stage: the first message on a connection says what to do and carries
/// where to send the results; then each number is sent on, transformed.
void stage(context& self) {
  self.on_connect([](message_event& ev) {
    auto in = ev.ports.at(0);
    auto next = std::make_shared<message_port>();
    auto op = std::make_shared<std::string>();
    in.on_message([next, op](message_event& m) {
      if (!*next) {
        *op = m.data["op"].as_string();
        *next = m.ports.at(0);
        return;
      }
      auto n = m.data.as_number();
      next->post_message(*op == "inc" ? n + 1 : n * 2);
    });
    in.on_close([next](message_event&) {
      if (*next)
        next->close();
    });
    in.start();
  });
}

outcome run_remote_pipeline(runtime& rt, const params& p, progress& prog) {
  if (p.listen >= 0) {
    remote::offer(rt, "stage", rt.spawn("stage", stage));
    return serve(rt, p);
  }
  auto args = std::vector<std::string>{"--topology=remote-pipeline",
                                       "--listen=0", "--quiet"};
  process two{args};
  process three{args};
  auto port2 = two.port();
  auto port3 = three.port();
  outcome out;
  if (port2 == 0 || port3 == 0) {
    out.verdict = "a stage process did not start";
    return out;
  }
  auto n = static_cast<double>(p.messages);
  auto in_order = std::make_shared<bool>(true);
  auto closed_after = std::make_shared<double>(-1);
  bool v = p.verbose;
  rt.spawn("first", [=, &prog](context&) {
    auto to3 = remote::connect(url(port3, "stage"));
    auto to2 = remote::connect(url(port2, "stage"));
    message_channel results;
    // The last process answers on a port made here: handed first -> last.
    to3.post_message(value::obj({{"op", "double"}}), {results.port2()});
    // Process 2 sends on our connection to process 3: handed to it.
    to2.post_message(value::obj({{"op", "inc"}}), {to3});
    auto got = std::make_shared<double>(0);
    auto back = results.port1();
    back.on_message([=, &prog](message_event& m) {
      ++prog.delivered;
      if (m.data.as_number() != (*got + 1) * 2)
        *in_order = false;
      *got += 1;
    });
    back.on_close([=](message_event&) {
      *closed_after = *got;
      say(v, "results port closed after {} results", *got);
    });
    back.start();
    say(v, "sending {} numbers through processes 2 (+1) and 3 (x2)", n);
    for (double i = 0; i < n; ++i)
      to2.post_message(i);
    to2.close(); // the close travels the pipeline behind the last number
  });
  if (!begin_checks(rt, p, prog, out))
    return out;
  out.expected = p.messages;
  out.channels = 3;
  expect(out, *in_order, "results out of order");
  expect(out, *closed_after == n,
         fmt::format("close came after {} results, expected {}",
                     *closed_after, n));
  expect(out, two.wait(std::chrono::seconds{10}) == 0,
         "stage process 2 failed");
  expect(out, three.wait(std::chrono::seconds{10}) == 0,
         "stage process 3 failed");
  rt.stop(); // the node context lets its last link ends go (live_ports)
  end_checks(rt, out,
             fmt::format("{} numbers through 3 processes, in order, close "
                         "after the last",
                         p.messages));
  return out;
}

// -- remote-chat ----------------------------------------------------------------

struct hub_state {
  std::size_t clients = 0;
  std::vector<message_port> ports;
  std::size_t joined = 0;
  std::size_t left = 0;
};

void hub(context& self, std::size_t clients, progress* prog, bool v) {
  auto st = std::make_shared<hub_state>();
  st->clients = clients;
  self.on_connect([st, prog, v](message_event& ev) {
    auto p = ev.ports.at(0);
    st->ports.push_back(p);
    p.on_message([st, prog, v](message_event& m) {
      if (m.data.is_string() && m.data.as_string() == "join") {
        if (++st->joined == st->clients) {
          say(v, "{} clients joined: start", st->clients);
          for (auto& q : st->ports)
            q.post_message("start");
        }
        return;
      }
      for (auto& q : st->ports) {
        q.post_message(m.data);
        if (prog)
          ++prog->delivered;
      }
    });
    p.on_close([st](message_event&) {
      if (++st->left == st->clients)
        this_context().close();
    });
    p.start();
  });
}

/// A client process: joins, posts its lines after "start", leaves once it
/// has every line of every client. Exit code 0 only if all came in order.
outcome chat_client(runtime& rt, const params& p, progress& prog) {
  auto total = static_cast<double>(p.size * p.messages);
  auto m = static_cast<double>(p.messages);
  auto ok = std::make_shared<bool>(true);
  auto got = std::make_shared<double>(0);
  auto target = p.connect;
  auto me = static_cast<double>(::getpid());
  rt.spawn("client", [=, &prog](context&) {
    auto c = remote::connect(target);
    auto last = std::make_shared<std::map<double, double>>();
    c.on_message([=, &prog](message_event& ev) {
      if (ev.data.is_string()) { // "start"
        for (double k = 0; k < m; ++k)
          c.post_message(value::obj({{"from", me}, {"k", k}}));
        return;
      }
      ++prog.delivered;
      auto from = ev.data["from"].as_number();
      auto k = ev.data["k"].as_number();
      auto [i, fresh] = last->emplace(from, k);
      if (!fresh && k != i->second + 1)
        *ok = false;
      i->second = k;
      if (++*got == total)
        c.close();
    });
    c.add_event_listener("error", [ok](message_event& ev) {
      *ok = false;
      fmt::print(stderr, "remote-chat client: {}\n", ev.error);
    });
    c.start();
    c.post_message("join");
  });
  outcome out;
  if (!begin_checks(rt, p, prog, out))
    return out;
  out.expected = static_cast<std::uint64_t>(total);
  expect(out, *ok, "lines lost or out of order");
  rt.stop();
  end_checks(rt, out, fmt::format("got all {} lines", total));
  return out;
}

outcome run_remote_chat(runtime& rt, const params& p, progress& prog) {
  if (!p.connect.empty())
    return chat_client(rt, p, prog);
  auto id = rt.spawn("hub", [&p, &prog](context& self) {
    hub(self, p.size, &prog, p.verbose);
  });
  remote::offer(rt, "hub", id);
  if (p.listen >= 0)
    return serve(rt, p);
  auto port = remote::listen(rt, 0, "127.0.0.1");
  say(p.verbose, "hub at {}; starting {} client processes",
      url(port, "hub"), p.size);
  std::vector<std::unique_ptr<process>> clients;
  for (std::size_t i = 0; i < p.size; ++i)
    clients.push_back(std::make_unique<process>(std::vector<std::string>{
      "--topology=remote-chat", "--connect=" + url(port, "hub"),
      fmt::format("--size={}", p.size),
      fmt::format("--messages={}", p.messages), "--quiet"}));
  outcome out;
  bool done = begin_checks(rt, p, prog, out);
  int failed = 0;
  for (auto& c : clients)
    failed += c->wait(done ? std::chrono::seconds{10}
                           : std::chrono::seconds{0})
              != 0;
  if (!done)
    return out;
  out.expected = p.size * p.size * p.messages;
  out.channels = p.size;
  expect(out, failed == 0, fmt::format("{} client processes failed", failed));
  rt.stop();
  end_checks(rt, out,
             fmt::format("{} client processes, each got all {} lines", p.size,
                         p.size * p.messages));
  return out;
}

} // namespace

topology remote_pipeline_topology() {
  return {"remote-pipeline",
          "numbers through stages in three processes, a port handed from "
          "the first process to the last",
          "size: unused (always 3 processes); messages: numbers",
          3, 1000, run_remote_pipeline, true};
}

topology remote_chat_topology() {
  return {"remote-chat",
          "a chat hub and client processes connecting to it by URL",
          "size: client processes; messages: lines per client",
          3, 20, run_remote_chat, true};
}

} // namespace entangle::examples
