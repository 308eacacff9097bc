#include "cli_args.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <caf/config_value.hpp>
#include <caf/pec.hpp>
#include <caf/settings.hpp>
#include <caf/sec.hpp>
#include <fmt/format.h>

namespace entangle::examples {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string full_name(const caf::config_option& opt) {
  auto name = std::string{sv(opt.long_name())};
  return opt.has_flat_cli_name()
           ? name
           : fmt::format("{}.{}", sv(opt.category()), name);
}

/// Edit distance, for "did you mean" (option names are short).
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    auto diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      auto up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_option(const caf::config_option_set& opts,
                           std::string_view given) {
  auto msg = fmt::format("unknown option '{}'", given);
  auto name = given.substr(given.find_first_not_of('-'));
  std::string best;
  std::size_t best_d = 3; // only close typos
  for (auto& opt : opts) {
    auto candidate = full_name(opt);
    auto d = distance(name, candidate);
    if (d < best_d) {
      best_d = d;
      best = candidate;
    }
  }
  if (!best.empty())
    msg += fmt::format(" (did you mean --{}?)", best);
  return msg;
}

} // namespace

std::string expected_value(const caf::config_option& opt) {
  auto name = sv(opt.long_name());
  auto type = sv(opt.type_name());
  if (name == "trace" || name == "graph" || name == "sequence"
      || name == "config-file" || name == "profiling-output-file")
    return "a file name";
  if (name == "topology")
    return "a topology name (see --list)";
  if (starts_with(type, "uint"))
    return "a whole number (0 or more)";
  if (starts_with(type, "int"))
    return "a whole number";
  if (starts_with(type, "real"))
    return "a number";
  if (type == "timespan")
    return "a duration such as 10ms, 2s or 1min";
  if (type == "atom")
    return "a short name (at most 10 characters)";
  if (type == "boolean")
    return "nothing (it is a switch)";
  if (type == "string")
    return "a text";
  return fmt::format("a value of type {}", type);
}

std::string value_placeholder(const caf::config_option& opt) {
  auto what = expected_value(opt);
  if (what == "a file name")
    return "FILE";
  if (what == "a topology name (see --list)")
    return "NAME";
  if (starts_with(what, "a whole number") || what == "a number")
    return "N";
  if (starts_with(what, "a duration"))
    return "DURATION";
  return "VALUE";
}

cli_args normalize_args(const caf::config_option_set& opts, int argc,
                        char** argv) {
  cli_args out;
  out.args.emplace_back(argc > 0 ? argv[0] : "entangle-run");
  std::vector<std::string> in(argv + std::min(argc, 1), argv + argc);
  // Help wins: `entangle-run --bogus --help` shows the help.
  for (auto& a : in)
    if (a == "--help" || a == "-h" || a == "-?")
      out.help = true;
  auto fail = [&](std::string msg, std::string option = {}) {
    if (out.error.empty()) {
      out.error = std::move(msg);
      out.option = std::move(option);
    }
  };
  for (std::size_t i = 0; i < in.size() && out.error.empty(); ++i) {
    const auto& a = in[i];
    if (a == "--") {
      if (i + 1 < in.size())
        fail(fmt::format("unexpected argument '{}' after '--'", in[i + 1]));
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      if (out.positional.empty()) {
        out.positional = a;
      } else {
        fail(fmt::format("unexpected argument '{}' (the topology is '{}'; "
                         "options start with --)",
                         a, out.positional));
        out.about_topology = true;
      }
      continue;
    }
    const caf::config_option* opt = nullptr;
    std::string value;
    bool has_value = false;
    std::string shown; // how the user spelled the option
    if (starts_with(a, "--")) {
      auto eq = a.find('=');
      auto name = a.substr(2, eq == std::string::npos ? eq : eq - 2);
      shown = "--" + name;
      opt = opts.cli_long_name_lookup(name);
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        has_value = true;
      }
    } else {
      shown = a.substr(0, 2);
      opt = opts.cli_short_name_lookup(a[1]);
      if (opt != nullptr && a.size() > 2) {
        value = a.substr(2);
        has_value = true;
      }
    }
    if (opt == nullptr) {
      fail(unknown_option(opts, shown));
      break;
    }
    auto name = full_name(*opt);
    if (opt->is_flag()) {
      // A switch takes no value; INI files spell it `quiet=true`, so accept
      // that spelling here too.
      if (!has_value || value == "true")
        out.args.push_back("--" + name);
      else if (value != "false")
        fail(fmt::format("{} is a switch and takes no value (got '{}')",
                         shown, value),
             name);
      continue;
    }
    if (!has_value) {
      if (i + 1 >= in.size() || starts_with(in[i + 1], "--")) {
        fail(fmt::format("{} needs a value: {} ({} {} or {}={})", shown,
                         expected_value(*opt), shown, value_placeholder(*opt),
                         shown, value_placeholder(*opt)),
             name);
        break;
      }
      value = in[++i];
    }
    // Check the value against the option's type now (CAF would only say
    // "parser_error(unexpected_character, ...)"). parse() also stores it;
    // CAF's own pass below stores the same value again.
    if (value.empty() || !opt->parse(value)) {
      fail(fmt::format("{} expects {}, got '{}'", shown, expected_value(*opt),
                       value),
           name);
      break;
    }
    out.args.push_back(fmt::format("--{}={}", name, value));
  }
  return out;
}

std::string describe_parse_error(const caf::error& err,
                                 const std::string& config_file) {
  auto where = config_file.empty()
                 ? std::string{"the command line"}
                 : fmt::format("the config file '{}'", config_file);
  if (err.category() == caf::atom("system")
      && static_cast<caf::sec>(err.code()) == caf::sec::cannot_open_file)
    return fmt::format("cannot open {}", where);
  if (err.category() != caf::atom("parser"))
    return fmt::format("cannot read {}: {}", where, caf::to_string(err));
  auto code = static_cast<caf::pec>(err.code());
  std::string what;
  switch (code) {
    case caf::pec::unexpected_character:
    case caf::pec::trailing_character:
      what = "a value that is not what its option expects";
      break;
    case caf::pec::unexpected_newline:
    case caf::pec::unexpected_eof:
      what = "an unfinished line (a missing ']' or '\"'?)";
      break;
    case caf::pec::integer_overflow:
    case caf::pec::integer_underflow:
    case caf::pec::exponent_overflow:
    case caf::pec::exponent_underflow:
    case caf::pec::timespan_overflow:
      what = "a number out of range";
      break;
    case caf::pec::type_mismatch:
      what = "a value of the wrong type for its option";
      break;
    case caf::pec::not_an_option:
      what = "an unknown option";
      break;
    case caf::pec::missing_argument:
      what = "an option without its value";
      break;
    default:
      what = fmt::format("a mistake ({})", caf::to_string(code));
  }
  std::string at;
  auto& ctx = err.context();
  if (ctx.match_elements<caf::settings>()) {
    auto& s = ctx.get_as<caf::settings>(0);
    if (auto arg = caf::get_if<std::string>(&s, "argument"))
      at = fmt::format(" in '{}'", *arg);
    else if (auto line = caf::get_if<int64_t>(&s, "line"))
      at = fmt::format(" at line {}", *line);
  }
  return fmt::format("{} has {}{}", where, what, at);
}

std::string check_writable(std::string_view option, const std::string& path) {
  auto say = [&](const std::string& why) {
    return fmt::format("cannot write --{} '{}': {}", option, path, why);
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return say("it is a directory; give a file name");
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
    if (fd < 0)
      return say(std::strerror(errno));
    ::close(fd);
    return {};
  }
  auto slash = path.rfind('/');
  auto dir = slash == std::string::npos ? std::string{"."}
             : slash == 0               ? std::string{"/"}
                                        : path.substr(0, slash);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return say(fmt::format("the directory '{}' does not exist", dir));
  // Probe by creating it (permissions, read-only file systems, ACLs: what
  // the write at the end would meet), then remove the probe.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0)
    return say(std::strerror(errno));
  ::close(fd);
  ::unlink(path.c_str());
  return {};
}

} // namespace entangle::examples
