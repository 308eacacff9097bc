#pragma once

// entangle-run's command line before and around CAF's parser: CAF 0.17
// accepts only `--opt=value` and reports mistakes as raw
// `parser_error(...)` text. These helpers accept `--opt value` too, check
// every value against its option's type, and say what is wrong in words.

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <caf/config_option_set.hpp>
#include <caf/error.hpp>

namespace entangle::examples {

/// The command line, rewritten for CAF's parser.
struct cli_args {
  /// argv[0], then every option as `--name=value` (or `--name` for a
  /// switch), long names only.
  std::vector<std::string> args;
  /// The first bare word (the topology), if any.
  std::string positional;
  /// `--help`, `-h` or `-?` was given (it wins over everything else).
  bool help = false;
  /// A usage error in plain words (empty: none), and the option it is
  /// about (empty: none).
  std::string error;
  std::string option;
  /// The error is a stray word (the list of topologies helps).
  bool about_topology = false;
};

/// CAF 0.17's own string_view as a std one.
inline std::string_view sv(caf::string_view s) {
  return {s.data(), s.size()};
}

/// Rewrites `argv`: `--opt value` and `-o value` become `--opt=value`,
/// `--flag=true|false` becomes `--flag` or nothing; unknown options, a
/// missing value, a value that does not parse as the option's type and a
/// second bare word are reported in `error`.
cli_args normalize_args(const caf::config_option_set& opts, int argc,
                        char** argv);

/// What kind of value an option wants, in words ("a whole number (0 or
/// more)", "a file name", ...).
std::string expected_value(const caf::config_option& opt);

/// The placeholder shown after an option in help texts ("N", "FILE").
std::string value_placeholder(const caf::config_option& opt);

/// CAF's parser error `err` (from the config file, or anything the
/// command line check let through) in words.
std::string describe_parse_error(const caf::error& err,
                                 const std::string& config_file);

/// Returns why `path` (given to `--option`) cannot be written, or an empty
/// string if it can. Creates nothing that was not there: a probe file is
/// removed again.
std::string check_writable(std::string_view option, const std::string& path);

/// Prints the man-style help: NAME, SYNOPSIS, DESCRIPTION, OPTIONS (from
/// `opts`, group "global"), TOPOLOGIES, EXAMPLES, EXIT STATUS. `program`
/// is the name to show; `fixed` the topology a one-topology program runs.
void print_help(std::FILE* to, const caf::config_option_set& opts,
                const std::string& program, const char* fixed);

} // namespace entangle::examples
