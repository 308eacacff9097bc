#!/usr/bin/env python3
"""Checks the quick-start scripts (scripts/demo, scripts/setup-common.sh):

- scripts/demo builds only what it runs: its targets need no test suite,
  header check or benchmark, and far fewer build steps than everything;
- apt-get waits for another apt's lock (DPkg::Lock::Timeout), for the
  index update and the install alike (apt-get, dpkg-query and sudo are
  stand-ins on PATH: nothing is installed);
- the manual-install hint is one command per line, each with its own sudo;
- a build dir the user cannot write (made by root) is reported with what
  to do, before meson runs (as root, the check runs as nobody).

Usage: check_scripts.py SOURCE_ROOT BUILD_DIR WORKDIR
"""
import os
import shutil
import stat
import subprocess
import sys

failures = []


def expect(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        if detail:
            print("  " + detail.strip().replace("\n", "\n  "))
        failures.append(what)


def bash(root, script, env=None, user=None):
    cmd = ["bash", "-c", f"source scripts/setup-common.sh\n{script}"]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}",
               "--clear-groups"] + cmd
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True,
                          env=env, timeout=60)


def check_demo_targets(root, build):
    r = subprocess.run(["scripts/demo"], cwd=root, capture_output=True,
                       text=True, env=dict(os.environ,
                                           ENTANGLE_DEMO_PRINT_TARGETS="1"))
    targets = r.stdout.split()
    expect(r.returncode == 0 and bool(targets),
           f"scripts/demo names its build targets: {targets}", r.stderr)

    def commands(*t):
        q = subprocess.run(["ninja", "-C", build, "-t", "commands", *t],
                           capture_output=True, text=True)
        if q.returncode != 0:
            expect(False, f"ninja knows the targets {t}", q.stderr)
            return []
        return q.stdout.splitlines()

    demo, everything = commands(*targets), commands()
    extra = [c for c in demo if "tests/" in c or "bench/" in c
             or "header_" in c]
    expect(demo and not extra,
           "the demo's targets build no test, header check or benchmark",
           "\n".join(extra[:3]))
    expect(0 < len(demo) <= len(everything) // 2,
           f"the demo builds {len(demo)} of {len(everything)} steps")


def fake_bin(work):
    """apt-get, dpkg-query and sudo that only record how they were called."""
    bindir = os.path.join(work, "fakebin")
    os.makedirs(bindir, exist_ok=True)
    log = os.path.join(work, "apt.log")
    scripts = {
        "apt-get": f'echo "apt-get $*" >> "{log}"\n',
        "dpkg-query": "exit 1\n",  # nothing is installed
        "sudo": '[ "$1" = -n ] && shift\nexec "$@"\n',
    }
    for name, body in scripts.items():
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
    return bindir, log


def check_apt(root, work):
    bindir, log = fake_bin(work)
    if os.path.exists(log):
        os.remove(log)
    env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"],
               ENTANGLE_APT_LOCK_WAIT="321")
    r = bash(root, "ENTANGLE_DEPS=(pkg-a)\nentangle_install_deps pkg-b",
             env=env)
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    expect(r.returncode == 0 and len(calls) == 2
           and all("-o DPkg::Lock::Timeout=321" in c for c in calls)
           and calls[0].endswith(" update")
           and calls[1].endswith("install -y --no-install-recommends "
                                 "pkg-a pkg-b"),
           "apt-get update and install both wait for the dpkg lock",
           f"calls: {calls}\n{r.stderr}")


def check_hint(root):
    r = bash(root, "entangle_install_hint sudo cmake ninja-build")
    lines = [x.strip() for x in r.stdout.splitlines() if x.strip()]
    expect(r.returncode == 0 and lines == [
        "sudo apt-get update",
        "sudo apt-get install -y --no-install-recommends cmake ninja-build"],
        "the manual-install hint elevates each command on its own line",
        r.stdout)
    r = bash(root, "entangle_install_hint '' cmake")
    expect(r.stdout.split("\n")[0].strip() == "apt-get update",
           "as root the hint has no sudo", r.stdout)


def check_unwritable_build_dir(root, work):
    fake = os.path.join(work, "root-build")
    shutil.rmtree(fake, ignore_errors=True)
    os.makedirs(os.path.join(fake, "meson-logs"))
    with open(os.path.join(fake, "build.ninja"), "w") as f:
        f.write("# made by root\n")
    user = None
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            print("skip: root without setpriv: no user to test with")
            return
        user = 65534  # nobody: root's 0755 dir is read-only to it
        for d in (work, fake, os.path.join(fake, "meson-logs")):
            os.chmod(d, 0o755)
    else:
        os.chmod(os.path.join(fake, "meson-logs"), 0o555)
    r = bash(root, f'entangle_configure "{fake}" && echo CONFIGURED',
             user=user)
    expect(r.returncode != 0 and "CONFIGURED" not in r.stdout
           and "is not writable by" in r.stderr
           and "sudo chown -R" in r.stderr and "sudo rm -rf" in r.stderr
           and "Traceback" not in r.stderr,
           "a build dir made by root is reported with the fix, before meson",
           r.stdout + r.stderr)
    os.chmod(os.path.join(fake, "meson-logs"),
             stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP)
    r = bash(root, f'entangle_check_build_dir "{fake}" && echo WRITABLE')
    expect("WRITABLE" in r.stdout, "a writable build dir passes", r.stderr)


def main():
    root, build, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    check_demo_targets(root, build)
    check_apt(root, work)
    check_hint(root)
    check_unwritable_build_dir(root, work)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
