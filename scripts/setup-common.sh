# shellcheck shell=bash
# scripts/setup-common.sh - helpers shared by scripts/test and scripts/demo (source it).
#   entangle_install_deps [pkg...]     install missing Debian build deps
#                                      (ENTANGLE_DEPS and the packages given)
#   entangle_install_hint SUDO pkg...  print how to install them by hand
#   entangle_check_build_dir DIR       fail, saying what to do, if DIR
#                                      exists but is not writable (root's)
#   entangle_configure DIR [args...]   meson setup DIR (first time) or meson configure DIR args
#   entangle_build DIR [args...]       entangle_configure, then meson compile -C DIR
# ccache is used automatically: meson detects it as long as CC/CXX are not overridden here.

ENTANGLE_DEPS=(libcaf-dev libfmt-dev libidn2-dev libboost-dev catch2 meson ninja-build pkg-config g++ python3 ccache)
# What the test suite needs beyond the build: cmake for the find_package
# (entangle) consumer check (tests/check_install.py). scripts/test installs
# these; scripts/demo does not need them.
ENTANGLE_TEST_DEPS=(cmake)
# Seconds apt-get waits for a lock held by another apt or dpkg (an
# unattended upgrade, a second terminal) instead of failing at once.
ENTANGLE_APT_LOCK_WAIT=${ENTANGLE_APT_LOCK_WAIT:-600}

# entangle_install_hint SUDO PKG...: one command per line, each elevated on
# its own (`sudo a && b` would run only `a` as root).
entangle_install_hint() {
  local sudo=$1; shift
  echo "    ${sudo:+$sudo }apt-get update"
  echo "    ${sudo:+$sudo }apt-get install -y --no-install-recommends $*"
}

entangle_install_deps() {
  local pkg missing=() sudo=()
  for pkg in "${ENTANGLE_DEPS[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0

  local hint=""
  if ((EUID != 0)); then
    hint=sudo
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "error: missing Debian packages: ${missing[*]}" >&2
      echo "  install them (these commands work as they are)," \
           "then run this again:" >&2
      entangle_install_hint "$hint" "${missing[@]}" >&2
      exit 1
    fi
  fi

  echo "==> installing missing packages: ${missing[*]}" >&2
  local apt=(apt-get -o "DPkg::Lock::Timeout=$ENTANGLE_APT_LOCK_WAIT")
  if ! "${sudo[@]}" "${apt[@]}" update ||
     ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
         "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; then
    echo "error: apt-get failed; could not install: ${missing[*]}" >&2
    echo "  try it by hand${hint:+ (as root)}:" >&2
    entangle_install_hint "$hint" "${missing[@]}" >&2
    exit 1
  fi
}

# A build dir made by `sudo scripts/test` (root's files) breaks every later
# run as a normal user deep inside meson; say so before meson starts.
entangle_check_build_dir() {
  local dir=$1 bad
  [[ -e $dir ]] || return 0
  if [[ -w $dir ]]; then
    bad=$(find "$dir" -maxdepth 2 ! -writable -print -quit 2>/dev/null)
  else
    bad=$dir
  fi
  [[ -z $bad ]] && return 0
  local me
  me=$(id -un)
  echo "error: $dir/ is not writable by $me: $bad belongs to" \
       "$(stat -c %U "$bad") (was $dir/ made by a command run" \
       "with sudo?)" >&2
  echo "  give it back:  sudo chown -R $me: $dir" >&2
  echo "  or start over: sudo rm -rf $dir" >&2
  return 1
}

# Uses the meson project's default build type unless -Dbuildtype=... is passed.
entangle_configure() {
  local dir=$1; shift
  entangle_check_build_dir "$dir" || return 1
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
