#!/usr/bin/env python3
"""Checks the installed entangle the way another project consumes it.

`meson install --destdir` stages the install under WORKDIR, then:
- the staged tree has the headers, the library, entangle-run, entangle.pc
  and the CMake package files; entangle-run runs from there;
- no installed header includes fmt while entangle.pc lists it as public
  (Requires), and none but the allowed ones include CAF's caf/detail/;
- a plain `g++ main.cpp $(pkg-config --cflags --libs entangle)` program
  builds, fails to start without the library path (what the README warns
  about), and runs with LD_LIBRARY_PATH or with an rpath;
- a tiny CMake project (tests/consumer/) does find_package(entangle 0.1),
  builds and runs; asking for a version the install does not have fails;
- a Catch2 test of a user's own protocol (tests/consumer/explore_main.cpp)
  builds with only the installed headers, explores its schedules and finds
  the planted bug, and the replay command it prints replays that schedule
  in a new process (same steps).

Usage: check_install.py BUILD_DIR SOURCE_ROOT WORKDIR PREFIX LIBDIR
                        [CMAKE_PACKAGE(true|false)]
"""
import os
import re
import shutil
import subprocess
import sys

# Installed headers that may include caf/detail/ (and why).
CAF_DETAIL_ALLOWED = {
    # CAF's own test of "can CAF serialize T" (is_serializable): copying it
    # would drift from the CAF it runs against.
    "entangle/typed.hpp",
}

failures = []


def expect(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        if detail:
            print("  " + detail.strip().replace("\n", "\n  "))
        failures.append(what)
    return cond


def run(cmd, env=None, cwd=None, timeout=300):
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def env_with(**extra):
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    env.update(extra)
    return env


def check_headers(prefix):
    inc = os.path.join(prefix, "include")
    fmt_users, detail_users = [], []
    for base, _, files in os.walk(inc):
        for f in files:
            path = os.path.join(base, f)
            rel = os.path.relpath(path, inc)
            text = open(path).read()
            if re.search(r"#\s*include\s*[<\"]fmt/", text):
                fmt_users.append(rel)
            if re.search(r"#\s*include\s*[<\"]caf/detail/", text) \
                    and rel not in CAF_DETAIL_ALLOWED:
                detail_users.append(rel)
    expect(not detail_users,
           "installed headers keep caf/detail/ out (allowed: "
           f"{', '.join(sorted(CAF_DETAIL_ALLOWED))})",
           f"also included by: {detail_users}")
    return fmt_users


def main():
    build, root, work, prefix, libdir = sys.argv[1:6]
    want_cmake = len(sys.argv) < 7 or sys.argv[6] == "true"
    dest = os.path.join(work, "dest")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    r = run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
             "--destdir", dest])
    if not expect(r.returncode == 0, "meson install --destdir stages the "
                  "install", r.stdout + r.stderr):
        sys.exit(1)
    staged = dest + prefix
    lib = libdir if os.path.isabs(libdir) else os.path.join(prefix, libdir)
    staged_lib = dest + lib
    files = {
        "the umbrella header": os.path.join(staged, "include", "entangle",
                                            "all.hpp"),
        "the library": os.path.join(staged_lib, "libentangle.so"),
        "entangle-run": os.path.join(staged, "bin", "entangle-run"),
        "entangle.pc": os.path.join(staged_lib, "pkgconfig", "entangle.pc"),
    }
    if want_cmake:
        cmake_dir = os.path.join(staged_lib, "cmake", "entangle")
        files["entangleConfig.cmake"] = os.path.join(cmake_dir,
                                                     "entangleConfig.cmake")
        files["entangleConfigVersion.cmake"] = os.path.join(
            cmake_dir, "entangleConfigVersion.cmake")
    for what, path in files.items():
        expect(os.path.exists(path), f"installed: {what}", path)
    if failures:
        sys.exit(1)

    libpath = env_with(LD_LIBRARY_PATH=staged_lib)
    r = run([files["entangle-run"], "mdn-basic", "--quiet"], env=libpath)
    expect(r.returncode == 0 and "result       ok" in r.stdout,
           "the installed entangle-run runs (LD_LIBRARY_PATH set)",
           r.stdout + r.stderr)

    # pkg-config, relocated to the staged prefix.
    fmt_users = check_headers(staged)
    pcenv = env_with(PKG_CONFIG_PATH=os.path.dirname(files["entangle.pc"]))
    pc = ["pkg-config", f"--define-variable=prefix={staged}"]
    requires = run(pc + ["--print-requires", "entangle"], env=pcenv).stdout
    expect(fmt_users or "fmt" not in requires.split(),
           "entangle.pc lists fmt as public only if a public header uses it",
           f"Requires: {requires!r}; headers using fmt: {fmt_users}")
    flags = run(pc + ["--cflags", "--libs", "entangle"], env=pcenv)
    expect(flags.returncode == 0, "pkg-config --cflags --libs entangle",
           flags.stderr)
    cxx = os.environ.get("CXX", "g++")
    app = os.path.join(work, "pc-consumer")
    src = os.path.join(root, "tests", "consumer", "main.cpp")
    r = run([cxx, "-std=c++17", src, "-o", app] + flags.stdout.split())
    if expect(r.returncode == 0,
              "g++ main.cpp $(pkg-config --cflags --libs entangle) builds",
              r.stderr[:3000]):
        r = run([app], env=env_with())
        found = run(["ldd", app], env=env_with()).stdout
        if r.returncode == 0 and "libentangle.so" in found:
            print("skip: another libentangle.so is on the system's library "
                  "path, so the missing-path failure cannot be shown:\n  "
                  + [x for x in found.splitlines() if "entangle" in x][0])
        else:
            expect(r.returncode != 0 and "libentangle.so" in r.stderr,
                   "without LD_LIBRARY_PATH it cannot find libentangle.so "
                   "(the README's warning)", r.stdout + r.stderr)
        r = run([app], env=libpath)
        expect(r.returncode == 0 and "pong: ping" in r.stdout,
               "with LD_LIBRARY_PATH it runs", r.stdout + r.stderr)
    libdir_var = run(pc + ["--variable=libdir", "entangle"],
                     env=pcenv).stdout.strip()
    app_rpath = app + "-rpath"
    r = run([cxx, "-std=c++17", src, "-o", app_rpath]
            + flags.stdout.split() + [f"-Wl,-rpath,{libdir_var}"])
    if expect(r.returncode == 0, "the same with -Wl,-rpath,$(pkg-config "
              "--variable=libdir entangle) builds", r.stderr[:3000]):
        r = run([app_rpath], env=env_with())
        expect(r.returncode == 0 and "pong: ping" in r.stdout,
               "with the rpath it runs without LD_LIBRARY_PATH",
               r.stdout + r.stderr)

    check_explore(root, work, cxx, flags.stdout.split(), libpath)

    if not want_cmake:
        print("skip: configured without cmake (meson option cmake_package): "
              "no CMake package to test")
    elif shutil.which("cmake") is None:
        expect(False, "cmake is installed (scripts/setup-common.sh installs "
               "it for the tests)")
    else:
        check_cmake(root, work, staged)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


def check_explore(root, work, cxx, flags, libpath):
    src = os.path.join(root, "tests", "consumer", "explore_main.cpp")
    app = os.path.join(work, "explore-consumer")
    r = run([cxx, "-std=c++17", src, "-o", app] + flags)
    if not expect(r.returncode == 0, "a Catch2 test exploring its own "
                  "protocol builds with the installed headers",
                  r.stderr[:3000]):
        return
    r = run([app], env=libpath)
    if not expect(r.returncode == 0 and re.search(
                  r"explore: schedule \d+ failed.*: the worker saw stop",
                  r.stdout), "... finds the bug and passes the fix",
                  r.stdout[-3000:] + r.stderr[-2000:]):
        return
    steps = [x.strip() for x in r.stdout.splitlines()
             if re.match(r"\s+\d+\. #", x)]
    m = re.search(r"replay that: ENTANGLE_SCHEDULE=(\S+) (\S+) \"([^\"]+)\"",
                  r.stdout)
    if not expect(m is not None and steps, "... and prints the shrunk "
                  "schedule's steps and its replay command", r.stdout[-3000:]):
        return
    again = run([app, m.group(3)],
                env=dict(libpath, ENTANGLE_SCHEDULE=m.group(1)))
    steps_again = [x.strip() for x in again.stdout.splitlines()
                   if re.match(r"\s+\d+\. #", x)]
    expect(again.returncode == 0 and steps_again == steps,
           "the printed replay command replays the same steps in a new "
           "process", again.stdout[-3000:] + again.stderr[-2000:])


def check_cmake(root, work, staged):
    src = os.path.join(root, "tests", "consumer")
    out = os.path.join(work, "cmake-build")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    r = run(["cmake", "-S", src, "-B", out, f"-DCMAKE_PREFIX_PATH={staged}"]
            + gen)
    if not expect(r.returncode == 0,
                  "a CMake project finds it: find_package(entangle 0.1)",
                  r.stdout[-2000:] + r.stderr[-3000:]):
        return
    r = run(["cmake", "--build", out])
    if not expect(r.returncode == 0, "... builds against entangle::entangle",
                  r.stdout[-3000:] + r.stderr[-2000:]):
        return
    # CMake puts the imported library's directory in the build rpath.
    r = run([os.path.join(out, "consumer")], env=env_with())
    expect(r.returncode == 0 and "pong: ping" in r.stdout, "... and runs",
           r.stdout + r.stderr)
    r = run(["cmake", "-S", src, "-B", out + "-v9",
             f"-DCMAKE_PREFIX_PATH={staged}", "-DENTANGLE_WANT=9.0"] + gen)
    expect(r.returncode != 0
           and 'compatible with requested version "9.0"' in r.stderr
           and "version: 0.1" in r.stderr,
           "find_package(entangle 9.0) is refused by the version file",
           r.stderr[-2000:])


if __name__ == "__main__":
    main()
