#include "port_id.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

namespace entangle::detail {

namespace {

// getrandom() per id would be a syscall per channel end; draw a batch.
struct id_pool {
  std::mutex mu;
  std::array<std::uint64_t, 128> words{};
  std::size_t next = words.size();
  pid_t pid = 0;

  std::array<std::uint64_t, 2> take() {
    std::lock_guard<std::mutex> guard{mu};
    // A forked child must not hand out its parent's remaining ids.
    if (next + 2 > words.size() || pid != getpid()) {
      pid = getpid();
      auto* p = reinterpret_cast<char*>(words.data());
      std::size_t want = sizeof(words);
      while (want > 0) {
        auto n = getrandom(p, want, 0);
        if (n < 0)
          throw std::runtime_error("getrandom failed");
        p += n;
        want -= static_cast<std::size_t>(n);
      }
      next = 0;
    }
    std::array<std::uint64_t, 2> r{words[next], words[next + 1]};
    next += 2;
    return r;
  }
};

} // namespace

port_id port_id::make() {
  static id_pool pool;
  auto w = pool.take();
  return port_id{w[0], w[1]};
}

std::string to_string(port_id id) {
  return fmt::format("{:016x}{:016x}", id.hi, id.lo);
}

} // namespace entangle::detail
