#pragma once

// entangle-run's command line, shared by entangle-run itself and by the
// one-topology example programs. No CAF headers (the mains stay cheap).

namespace entangle::examples {

/// Parses `argv` (CAF's config parser: --help, --config-file=FILE.ini,
/// --scheduler.*), runs one topology and prints a summary. With `fixed`
/// set, runs that topology (a per-example program); otherwise the first
/// argument or --topology names it.
///
/// Returns the process exit code: 0 when the run's checks passed, 1 when
/// they failed (or a file could not be written), 2 for bad usage.
int run_cli(int argc, char** argv, const char* fixed = nullptr);

} // namespace entangle::examples
