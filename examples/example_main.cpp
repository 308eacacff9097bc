// One example program per topology: the same code entangle-run runs, fixed
// to the topology ENTANGLE_EXAMPLE names (see examples/meson.build).

#include "cli/run_cli.hpp"

int main(int argc, char** argv) {
  return entangle::examples::run_cli(argc, argv, ENTANGLE_EXAMPLE);
}
