#pragma once

// Starts the test node (tests/remote/test_node.cpp) as a child process on
// 127.0.0.1 and reads the port it listens on. The child ends when its stdin
// closes (the destructor) or when it is killed (kill9).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace remote_test {

class child {
public:
  /// Starts $ENTANGLE_TEST_NODE with `args`.
  explicit child(std::vector<std::string> args = {})
    : child(node_exe(), std::move(args)) {
  }

  /// Starts `program` with `args`; it must print "listening PORT" first.
  child(const std::string& program, std::vector<std::string> args) {
    const char* exe = program.c_str();
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
    std::vector<std::string> all{exe};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, exe, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    if (rc != 0)
      throw std::runtime_error("posix_spawn failed");
    auto line = read_line(std::chrono::seconds{20});
    if (line.rfind("listening ", 0) != 0)
      throw std::runtime_error("test node said: '" + line + "'");
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(10)));
  }

  child(const child&) = delete;
  child& operator=(const child&) = delete;

  ~child() {
    stop();
    if (stdout_ >= 0)
      ::close(stdout_);
  }

  /// Closes its stdin and waits for it to exit (at most 5 s, then kill -9).
  /// Returns its exit code (128 + signal if a signal ended it), so a test
  /// sees a child that crashed or, under ASan, leaked.
  int stop() {
    if (stdin_ >= 0) {
      ::close(stdin_);
      stdin_ = -1;
    }
    if (pid_ > 0) {
      // A clean exit is expected within seconds; never hang the suite.
      for (int i = 0; i < 200; ++i) {
        if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{25});
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        pid_ = -1;
      }
    }
    if (WIFEXITED(status_))
      return WEXITSTATUS(status_);
    return WIFSIGNALED(status_) ? 128 + WTERMSIG(status_) : -1;
  }

  std::uint16_t port() const noexcept {
    return port_;
  }

  std::string url(const std::string& name) const {
    return "entangle://127.0.0.1:" + std::to_string(port_) + "/" + name;
  }

  /// kill -9, and reap it.
  void kill9() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
  }

private:
  static std::string node_exe() {
    const char* exe = std::getenv("ENTANGLE_TEST_NODE");
    if (exe == nullptr)
      throw std::runtime_error("ENTANGLE_TEST_NODE is not set");
    return exe;
  }

  std::string read_line(std::chrono::milliseconds timeout) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      char c;
      if (::read(stdout_, &c, 1) != 1)
        break;
      if (c == '\n')
        return line;
      line.push_back(c);
    }
    return line;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int status_ = 0;
  std::uint16_t port_ = 0;
};

} // namespace remote_test
