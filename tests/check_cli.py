#!/usr/bin/env python3
"""Checks entangle-run's command line: --list, --help, a run's summary, an
INI file through CAF's --config-file, and exit code 2 with a clear error
for an unknown topology, a bad or out-of-range value, an unknown option and
a stray argument.

Usage: check_cli.py ENTANGLE_RUN WORKDIR
"""
import os
import subprocess
import sys

TOPOLOGIES = ["mdn-basic", "mdn-multi", "ping-pong", "pipeline", "worker-pool",
              "port-introduction", "shared-chat", "broadcast", "relay-ring"]
failures = []


def run(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True,
                          timeout=60)


def expect(cond, what, r=None):
    if cond:
        print(f"ok: {what}")
    else:
        detail = f"\n  rc={r.returncode}\n  out={r.stdout!r}\n  err={r.stderr!r}" if r else ""
        failures.append(what)
        print(f"FAIL: {what}{detail}")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    r = run(exe, "--list")
    expect(r.returncode == 0 and all(t in r.stdout for t in TOPOLOGIES),
           "--list names every topology, exit 0", r)
    r = run(exe, "--help")
    expect(r.returncode == 0 and "--messages" in r.stdout
           and "pipeline" in r.stdout, "--help prints options and topologies, exit 0", r)
    r = run(exe, "ping-pong", "--messages=50", "--quiet")
    expect(r.returncode == 0 and "result       ok" in r.stdout
           and "drops" in r.stdout and "throughput" in r.stdout
           and "delivered    100 messages" in r.stdout,
           "a run prints the summary table", r)
    ini = os.path.join(work, "run.ini")
    with open(ini, "w") as f:
        f.write("[global]\nsize=2\nmessages=7\nquiet=true\n")
    r = run(exe, "pipeline", f"--config-file={ini}")
    expect(r.returncode == 0 and "size 2, messages 7" in r.stdout,
           "an INI file sets the parameters (--config-file)", r)
    for args, what, needle in [
        (["no-such-topology"], "unknown topology", "unknown topology"),
        (["--topology=nope"], "unknown --topology", "unknown topology"),
        (["pipeline", "--size=abc"], "non-numeric value", "error"),
        (["pipeline", "--size=-3"], "negative value", "error"),
        (["pipeline", "--size=100000"], "out-of-range size", "out of range"),
        (["pipeline", "--bogus=1"], "unknown option", "not_an_option"),
        (["pipeline", "extra"], "stray argument", "unexpected argument"),
        (["pipeline", "--timeout=0"], "zero timeout", "timeout"),
    ]:
        r = run(exe, *args)
        expect(r.returncode == 2 and needle in r.stderr,
               f"{what} ({' '.join(args)}): exit 2 and a clear error", r)
    bad_ini = os.path.join(work, "typo.ini")
    with open(bad_ini, "w") as f:
        f.write("[global]\nsizee=2\n")
    r = run(exe, "pipeline", f"--config-file={bad_ini}")
    expect(r.returncode == 2 and "unknown option 'sizee'" in r.stderr,
           "a typo in an INI file: exit 2 and a clear error", r)
    for args in (["nope"], ["pipeline", "--size=abc"]):
        r = run(exe, *args)
        expect("relay-ring" in r.stderr,
               f"a usage error ({' '.join(args)}) prints the list", r)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
