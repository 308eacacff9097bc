# shellcheck shell=bash
# scripts/setup-common.sh - helpers shared by scripts/test and scripts/demo (source it).
#   entangle_install_deps              install missing Debian build dependencies
#   entangle_configure DIR [args...]   meson setup DIR (first time) or meson configure DIR args
#   entangle_build DIR [args...]       entangle_configure, then meson compile -C DIR
# ccache is used automatically: meson detects it as long as CC/CXX are not overridden here.

ENTANGLE_DEPS=(libcaf-dev libfmt-dev libboost-dev catch2 meson ninja-build pkg-config g++ python3 ccache)

entangle_install_deps() {
  local pkg missing=() sudo=()
  for pkg in "${ENTANGLE_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0

  local cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "error: missing Debian packages: ${missing[*]}" >&2
      echo "  install them as root with:  apt-get update && $cmd" >&2
      exit 1
    fi
  fi

  echo "==> installing missing packages: ${missing[*]}" >&2
  if ! "${sudo[@]}" apt-get update ||
     ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y --no-install-recommends "${missing[@]}"; then
    echo "error: apt-get failed; could not install: ${missing[*]}" >&2
    echo "  try manually as root:  apt-get update && $cmd" >&2
    exit 1
  fi
}

# Uses the meson project's default build type unless -Dbuildtype=... is passed.
entangle_configure() {
  local dir=$1; shift
  if [[ ! -f $dir/build.ninja ]]; then
    meson setup "$dir" "$@"
  elif (($# > 0)); then
    # A build dir made before an option existed does not know it until it
    # is regenerated: reconfigure then.
    meson configure "$dir" "$@" 2>/dev/null \
      || meson setup --reconfigure "$dir" "$@"
  fi
}

# Explicit && chain: callers may run this inside `if`, where set -e is not in effect.
entangle_build() {
  entangle_configure "$@" && meson compile -C "$1"
}
