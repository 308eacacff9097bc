// entangle-run --help: a manual page in plain text (what `man` shows:
// NAME, SYNOPSIS, DESCRIPTION, OPTIONS, TOPOLOGIES, EXAMPLES, EXIT STATUS).
// The options come from the option set itself, so a new option cannot be
// left out; CAF's own options stay behind --long-help.

#include <algorithm>

#include <fmt/format.h>

#include "cli_args.hpp"
#include "topologies/topology.hpp"

namespace entangle::examples {

namespace {

/// A space that never breaks a line ("-n 8" stays together).
constexpr char nbsp = '\x01';

/// Prints `text` indented by `indent`, wrapped at 79 columns; the first
/// line continues after column `first` (printed up to there), or starts on
/// the next line when that leaves less than two spaces.
void wrapped(std::FILE* to, std::string_view text, std::size_t indent,
             std::size_t first) {
  std::size_t col = first;
  if (col != 0 && col + 2 > indent) {
    fmt::print(to, "\n{:{}}", "", indent);
    col = indent;
  } else {
    fmt::print(to, "{:{}}", "", indent - col);
    col = indent;
  }
  bool line_start = true;
  while (!text.empty()) {
    auto sp = text.find(' ');
    auto word = text.substr(0, sp);
    text = sp == std::string_view::npos ? std::string_view{}
                                        : text.substr(sp + 1);
    if (!line_start && col + 1 + word.size() > 79) {
      fmt::print(to, "\n{:{}}", "", indent);
      col = indent;
      line_start = true;
    }
    if (!line_start) {
      fmt::print(to, " ");
      ++col;
    }
    std::string shown{word};
    std::replace(shown.begin(), shown.end(), nbsp, ' ');
    fmt::print(to, "{}", shown);
    col += word.size();
    line_start = false;
  }
  fmt::print(to, "\n");
}

void para(std::FILE* to, std::string_view text) {
  wrapped(to, text, 4, 0);
}

} // namespace

void print_help(std::FILE* to, const caf::config_option_set& opts,
                const std::string& program, const char* fixed) {
  fmt::print(to, "NAME\n");
  if (fixed)
    para(to, fmt::format("{} - run entangle's {} example topology and check "
                         "its result",
                         program, fixed));
  else
    para(to, fmt::format("{} - run one of entangle's example topologies and "
                         "check its result",
                         program));
  fmt::print(to, "\nSYNOPSIS\n");
  if (fixed) {
    fmt::print(to, "    {} [OPTION...]\n", program);
  } else {
    fmt::print(to, "    {} [TOPOLOGY] [OPTION...]\n", program);
    fmt::print(to, "    {} --list\n", program);
  }
  fmt::print(to, "    {} --help | --long-help\n", program);
  fmt::print(to, "\nDESCRIPTION\n");
  para(to, fmt::format("Runs {} on a fresh entangle runtime (every context "
                       "a CAF actor), checks its result and prints a "
                       "summary: contexts, channels, messages delivered, "
                       "throughput, wall time, drops by reason and port "
                       "records left. --trace, --graph and --sequence also "
                       "record the message flow.",
                       fixed ? fmt::format("the {} topology", fixed)
                             : fmt::format("a topology (default {})",
                                           default_topology)));
  fmt::print(to, "\n");
  para(to, "An option takes its value as --opt\x01VALUE or --opt=VALUE (a "
           "short one as -n\x01""8 or -n8). Options can also come from an "
           "INI file (--config-file\x01" "FILE, a [global] section with "
           "size=8, messages=1000 ...). Output files are checked before the "
           "run.");
  fmt::print(to, "\nOPTIONS\n");
  for (auto& opt : opts) {
    auto long_name = sv(opt.long_name());
    if (sv(opt.category()) != "global" || long_name == "dump-config")
      continue;
    std::string names;
    for (auto c : sv(opt.short_names()))
      if (c != '?')
        names += fmt::format("-{}, ", c);
    names += fmt::format("--{}", long_name);
    if (!opt.is_flag())
      names += " " + value_placeholder(opt);
    auto what = std::string{sv(opt.description())};
    if (long_name == "long-help")
      what = "print every option, CAF's own included (scheduler.*, "
             "work-stealing.*, entangle.* runtime settings), and exit";
    if (long_name == "help")
      what = "print this text and exit";
    if (long_name == "config-file")
      what = "read options from an INI file";
    fmt::print(to, "    {}", names);
    wrapped(to, what, 28, 4 + names.size());
  }
  fmt::print(to, "\n{}\n", fixed ? "TOPOLOGY" : "TOPOLOGIES");
  for (auto& t : topologies()) {
    if (fixed && std::string_view{t.name} != fixed)
      continue;
    fmt::print(to, "    {}\n", t.name);
    wrapped(to, t.description, 8, 0);
    wrapped(to,
            fmt::format("{} (defaults: size {}, messages {})", t.knobs,
                        t.default_size, t.default_messages),
            8, 0);
  }
  fmt::print(to, "\nEXAMPLES\n");
  if (fixed) {
    fmt::print(to, "    {} --messages 1000\n", program);
    fmt::print(to, "    {} --trace run.json --graph run.dot\n", program);
  } else {
    fmt::print(to, "    {} pipeline --size 8 --messages 100000\n", program);
    fmt::print(to, "    {} relay-ring --trace ring.json --graph ring.dot \\\n"
                   "        --sequence ring.mmd\n",
               program);
    fmt::print(to, "    {} broadcast --threads 2 --quiet\n", program);
    fmt::print(to, "    {} --config-file run.ini\n", program);
  }
  para(to, "Open a --trace file at https://ui.perfetto.dev; render a "
           "--graph file with dot -Tsvg run.dot -o run.svg.");
  fmt::print(to, "\nEXIT STATUS\n");
  fmt::print(to, "    0   the topology's checks passed\n");
  fmt::print(to, "    1   a check failed, the run timed out, or a trace "
                 "file could not be\n        written after the run\n");
  fmt::print(to, "    2   bad usage: an unknown topology or option, a "
                 "missing value, a value\n        that is not what its "
                 "option expects or is out of range, an output\n        "
                 "file that cannot be written (checked before the run)\n");
}

} // namespace entangle::examples
