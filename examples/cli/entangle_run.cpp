// entangle-run: run any example topology. `entangle-run --list`,
// `entangle-run pipeline --size=8 --messages=100000 --trace=t.json`.

#include "run_cli.hpp"

int main(int argc, char** argv) {
  return entangle::examples::run_cli(argc, argv);
}
