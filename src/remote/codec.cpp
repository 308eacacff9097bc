// The wire format between remote nodes: see codec.hpp.

#include "remote/codec.hpp"
#include "remote/wire.hpp"

#include <algorithm>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "entangle/error.hpp"
#include "values/clone_def.hpp"

namespace entangle::detail::remote {

const port_name_hash::keys& port_name_hash::key() noexcept {
  static const keys k = [] {
    // Two random names are four random words (mint never fails silently;
    // should getrandom fail here, the fixed fallback is still a hash).
    keys out{0x243f6a8885a308d3ULL, 0x9e3779b97f4a7c15ULL,
             0x13198a2e03707344ULL, 0xbf58476d1ce4e5b9ULL};
    try {
      auto x = port_name::mint();
      auto y = port_name::mint();
      out = keys{x.hi, x.lo | 1, y.hi, y.lo | 1};
    } catch (...) {
      // nop: the fallback above
    }
    return out;
  }();
  return k;
}

port_name port_name::mint() {
  port_name n;
  while (n.hi == 0 && n.lo == 0) {
    std::uint64_t buf[2];
    auto* p = reinterpret_cast<char*>(buf);
    std::size_t got = 0;
    while (got < sizeof buf) {
      auto r = getrandom(p + got, sizeof buf - got, 0);
      if (r < 0) {
        if (errno == EINTR)
          continue;
        throw std::system_error(errno, std::generic_category(), "getrandom");
      }
      got += static_cast<std::size_t>(r);
    }
    n.hi = buf[0];
    n.lo = buf[1];
  }
  return n;
}

std::string port_name::to_string() const {
  return fmt::format("{:016x}{:016x}", hi, lo);
}

namespace {

using namespace wire;

} // namespace

std::string encode(const frame& f) {
  writer w;
  w.u8(static_cast<std::uint8_t>(f.kind));
  if (sequenced(f.kind) || f.kind == frame_kind::ack)
    w.u64(f.echo);
  if (sequenced(f.kind)) {
    w.u64(f.pseq);
    w.u64(f.ack);
  }
  switch (f.kind) {
    case frame_kind::hello:
    case frame_kind::welcome:
      w.u32(f.magic);
      w.u16(f.version);
      w.str(f.text);
      w.u64(f.session);
      w.u64(f.echo);
      w.u64(f.ack);
      break;
    case frame_kind::ack:
      w.u64(f.ack);
      w.u8(f.resend ? 1 : 0);
      break;
    case frame_kind::open:
      w.name(f.dst);
      w.name(f.src);
      w.str(f.text);
      break;
    case frame_kind::refuse:
      w.name(f.dst);
      w.str(f.text);
      break;
    case frame_kind::user:
      w.name(f.dst);
      w.u64(f.seq);
      w.u8(f.unencodable ? 2 : f.typed ? 1 : 0);
      if (f.unencodable) {
        w.str(f.text);
      } else if (f.typed) {
        w.str(f.typed_name);
        w.bytes(f.typed_bytes.data(), f.typed_bytes.size());
      } else {
        w.val(f.data);
      }
      w.count(f.ports.size());
      for (std::size_t i = 0; i < f.ports.size(); ++i) {
        w.name(f.ports[i].first);
        w.name(f.ports[i].second);
        carried_flow cf;
        if (i < f.port_flow.size())
          cf = f.port_flow[i];
        w.u8((cf.recv.enabled() ? 1 : 0) | (cf.send.enabled() ? 2 : 0));
        if (cf.recv.enabled())
          write_marks(w, cf.recv);
        if (cf.send.enabled())
          write_marks(w, cf.send);
      }
      break;
    case frame_kind::mark:
      w.name(f.dst);
      write_marks(w, f.marks);
      w.u64(f.seq);
      break;
    case frame_kind::credit:
      w.name(f.dst);
      w.u64(f.seq);
      break;
    case frame_kind::close:
    case frame_kind::splice_ready:
    case frame_kind::splice_last:
      w.name(f.dst);
      w.u64(f.seq);
      break;
    case frame_kind::splice_end:
      w.name(f.dst);
      w.u64(f.seq);
      write_marks(w, f.marks);
      w.u64(f.unread);
      break;
    case frame_kind::splice_prepare:
      w.name(f.dst);
      w.name(f.src);
      w.name(f.peer);
      w.str(f.text);
      break;
    case frame_kind::splice_go:
    case frame_kind::splice_abort:
      w.name(f.dst);
      break;
    case frame_kind::splice_drop:
      w.name(f.dst);
      w.name(f.src);
      w.u64(f.seq);
      w.u8(f.resend ? 1 : 0);
      break;
  }
  return std::move(w.out);
}

std::optional<frame> decode(std::string_view bytes, std::size_t max_depth,
                            std::string& why) {
  reader r{bytes, max_depth};
  frame f;
  f.wire_size = bytes.size();
  auto kind = r.u8();
  if (kind < static_cast<std::uint8_t>(frame_kind::hello)
      || kind > static_cast<std::uint8_t>(frame_kind::splice_drop)) {
    why = fmt::format("unknown frame kind {}", kind);
    return std::nullopt;
  }
  f.kind = static_cast<frame_kind>(kind);
  if (sequenced(f.kind) || f.kind == frame_kind::ack)
    f.echo = r.u64();
  if (sequenced(f.kind)) {
    f.pseq = r.u64();
    f.ack = r.u64();
  }
  switch (f.kind) {
    case frame_kind::hello:
    case frame_kind::welcome:
      f.magic = r.u32();
      f.version = r.u16();
      f.text = r.str();
      f.session = r.u64();
      f.echo = r.u64();
      f.ack = r.u64();
      break;
    case frame_kind::ack: {
      f.ack = r.u64();
      auto flag = r.u8();
      if (flag > 1)
        r.fail("bad ack flag");
      f.resend = flag == 1;
      break;
    }
    case frame_kind::open:
      f.dst = r.name();
      f.src = r.name();
      f.text = r.str();
      break;
    case frame_kind::refuse:
      f.dst = r.name();
      f.text = r.str();
      break;
    case frame_kind::user: {
      f.dst = r.name();
      f.seq = r.u64();
      auto typed = r.u8();
      if (typed > 2)
        r.fail("bad payload kind");
      f.typed = typed == 1;
      f.unencodable = typed == 2;
      if (f.unencodable) {
        f.text = r.str();
      } else if (f.typed) {
        f.typed_name = r.str();
        auto b = r.raw();
        f.typed_bytes.assign(b.begin(), b.end());
      } else {
        f.data = r.val(0);
      }
      auto n = r.count(33);
      if (f.unencodable && n != 0)
        r.fail("carried ports with a message that could not be encoded");
      for (std::size_t i = 0; i < n && r.ok(); ++i) {
        auto mine = r.name();
        auto theirs = r.name();
        f.ports.emplace_back(mine, theirs);
        auto flags = r.u8();
        if (flags > 3)
          r.fail("bad carried port flags");
        carried_flow cf;
        if ((flags & 1) != 0 && !read_marks(r, cf.recv))
          r.fail("carried marks that are not enabled");
        if ((flags & 2) != 0 && !read_marks(r, cf.send))
          r.fail("carried marks that are not enabled");
        f.port_flow.push_back(cf);
      }
      f.needs_rebuild = r.needs_rebuild || !f.ports.empty();
      f.buffer_bytes = r.buffer_bytes;
      break;
    }
    case frame_kind::close:
      f.dst = r.name();
      f.seq = r.u64();
      break;
    case frame_kind::mark:
      f.dst = r.name();
      read_marks(r, f.marks); // not enabled: lifted
      f.seq = r.u64();
      break;
    case frame_kind::credit:
    case frame_kind::splice_last:
      f.dst = r.name();
      f.seq = r.u64();
      break;
    case frame_kind::splice_end:
      f.dst = r.name();
      f.seq = r.u64();
      read_marks(r, f.marks); // not enabled: the other endpoint has none
      f.unread = r.u64();
      break;
    case frame_kind::splice_ready:
      f.dst = r.name();
      f.seq = r.u64();
      if (f.seq > 1)
        r.fail("bad splice flag");
      break;
    case frame_kind::splice_drop: {
      f.dst = r.name();
      f.src = r.name();
      f.seq = r.u64();
      auto flag = r.u8();
      if (flag > 1)
        r.fail("bad splice flag");
      f.resend = flag == 1;
      break;
    }
    case frame_kind::splice_prepare:
      f.dst = r.name();
      f.src = r.name();
      f.peer = r.name();
      f.text = r.str();
      break;
    case frame_kind::splice_go:
    case frame_kind::splice_abort:
      f.dst = r.name();
      break;
  }
  if (r.ok() && !r.at_end())
    r.fail("trailing bytes");
  if (!r.ok()) {
    why = std::move(r.why);
    return std::nullopt;
  }
  return f;
}

} // namespace entangle::detail::remote
