#!/usr/bin/env python3
"""Checks entangle-run's command line: --list, the man-style --help, a
run's summary, an INI file through CAF's --config-file, `--opt value` and
`--opt=value` (and -n 8, -n8), exit code 2 with an error in plain words
(naming the option and what it expects, never CAF's `parser_error(...)`)
for an unknown topology or option, a missing, bad or out-of-range value
and a stray argument, and output files checked before the run.

The run shown in docs/guide.md (`$ build/examples/entangle-run mdn-basic`)
is checked against a real run: its story lines occur, its summary matches
(timings aside).

Usage: check_cli.py ENTANGLE_RUN WORKDIR [SOURCE_ROOT]
"""
import json
import os
import shutil
import subprocess
import sys
import time

TOPOLOGIES = ["mdn-basic", "mdn-multi", "ping-pong", "pipeline", "worker-pool",
              "port-introduction", "shared-chat", "broadcast", "relay-ring",
              "rpc-service", "stream-flow", "remote-pipeline",
              "remote-chat"]
# CAF's raw parser text must never reach the user.
RAW = ("parser_error", "pec::", "not_an_option", "missing_argument",
       "unexpected_character", "system_error")
failures = []


def run(exe, *args, user=None):
    cmd = [exe, *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}",
               "--clear-groups", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    for raw in RAW:
        if raw in r.stderr or raw in r.stdout:
            expect(False, f"no raw CAF text ({raw}) for {' '.join(args)}", r)
    return r


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
    sections = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "TOPOLOGIES",
                "EXAMPLES", "EXIT STATUS"]
    lines = r.stdout.splitlines()
    expect(r.returncode == 0 and r.stderr == ""
           and all(x in lines for x in sections)
           and "    -n, --size N" in r.stdout and "--trace FILE" in r.stdout
           and all(f"    {t}" in lines for t in TOPOLOGIES)
           and "    2   bad usage" in r.stdout,
           "--help is a manual page (sections, options, topologies, exit "
           "codes) on stdout, exit 0", r)
    wide = [x for x in lines if len(x) > 80]
    expect(not wide, f"--help fits 80 columns ({wide[:2]})")
    r = run(exe, "pipeline", "--bogus", "-h")
    expect(r.returncode == 0 and "SYNOPSIS" in r.stdout,
           "-h wins over a bad option", r)
    r = run(exe, "--long-help")
    expect(r.returncode == 0 and "scheduler.max-threads" in r.stdout,
           "--long-help prints CAF's options too, exit 0", r)
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
    # Both spellings of a value, long and short.
    trace = os.path.join(work, "spaced.json")
    for args, what in [
        (["broadcast", "--trace", trace, "--size", "2", "--messages", "5",
          "--quiet"], "--opt value"),
        (["broadcast", f"--trace={trace}", "--size=2", "--messages=5",
          "--quiet=true"], "--opt=value"),
        (["broadcast", "-n", "2", "-m5", "-q", "--trace", trace], "-n 2, -m5"),
        (["--quiet", "broadcast", "--size", "2", "--messages", "5"],
         "the topology after an option"),
    ]:
        if os.path.exists(trace):
            os.remove(trace)
        r = run(exe, *args)
        ok = r.returncode == 0 and "size 2, messages 5" in r.stdout
        if "--trace" in " ".join(args):
            ok = ok and os.path.exists(trace) and json.load(open(trace))
        expect(ok, f"{what} ({' '.join(args)}) is accepted", r)
    nowhere = os.path.join(work, "no-such-dir", "t.json")
    for args, what, needles in [
        (["no-such-topology"], "unknown topology",
         ["unknown topology 'no-such-topology'", "relay-ring"]),
        (["--topology=nope"], "unknown --topology", ["unknown topology"]),
        (["pipeline", "--size=abc"], "non-numeric value",
         ["--size expects a whole number (0 or more), got 'abc'",
          "--size N"]),
        (["pipeline", "--size", "abc"], "non-numeric value, space form",
         ["--size expects a whole number (0 or more), got 'abc'"]),
        (["pipeline", "--size=-3"], "negative value",
         ["--size expects a whole number (0 or more), got '-3'"]),
        (["pipeline", "-n", "x"], "bad short value",
         ["-n expects a whole number"]),
        (["pipeline", "--size=100000"], "out-of-range size",
         ["--size 100000 is out of range (at most 10000)"]),
        (["broadcast", "--trace"], "missing value",
         ["--trace needs a value: a file name (--trace FILE or "
          "--trace=FILE)"]),
        (["broadcast", "--trace", "--quiet"], "value missing before an option",
         ["--trace needs a value"]),
        (["pipeline", "--quiet=yes"], "a value for a switch",
         ["--quiet is a switch and takes no value (got 'yes')"]),
        (["pipeline", "--bogus=1"], "unknown option",
         ["unknown option '--bogus'"]),
        (["pipeline", "--sizee", "3"], "misspelt option",
         ["unknown option '--sizee' (did you mean --size?)"]),
        (["pipeline", "-x"], "unknown short option", ["unknown option '-x'"]),
        (["pipeline", "extra"], "stray argument",
         ["unexpected argument 'extra'", "relay-ring"]),
        (["pipeline", "--timeout=0"], "zero timeout",
         ["--timeout must be at least 1"]),
        (["pipeline", "--config-file", os.path.join(work, "none.ini")],
         "missing config file", ["cannot open the config file"]),
        (["pipeline", "--trace", nowhere], "output in a missing directory",
         [f"cannot write --trace '{nowhere}': the directory",
          "does not exist"]),
        (["pipeline", "--graph", work], "output that is a directory",
         ["cannot write --graph", "it is a directory"]),
        (["pipeline", "--trace", "x.json", "--sequence", "x.json"],
         "two outputs, one file", ["--trace and --sequence name the same"]),
    ]:
        r = run(exe, *args)
        expect(r.returncode == 2 and all(n in r.stderr for n in needles)
               and "result" not in r.stdout,
               f"{what} ({' '.join(args)}): exit 2, nothing run, and "
               f"{needles[0]!r}", r)
    bad_ini = os.path.join(work, "typo.ini")
    with open(bad_ini, "w") as f:
        f.write("[global]\nsizee=2\n")
    r = run(exe, "pipeline", f"--config-file={bad_ini}")
    expect(r.returncode == 2 and "unknown option 'sizee'" in r.stderr,
           "a typo in an INI file: exit 2 and a clear error", r)
    with open(bad_ini, "w") as f:
        f.write("[global]\nsize=abc\n")
    r = run(exe, "pipeline", "--config-file", bad_ini)
    expect(r.returncode == 2 and f"the config file '{bad_ini}'" in r.stderr
           and "at line 2" in r.stderr,
           "a bad value in an INI file: exit 2, the file and line named", r)
    check_unwritable(exe, work)
    if len(sys.argv) > 3:
        check_guide_run(exe, sys.argv[3])
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


def check_guide_run(exe, root):
    """The guide's sample run is what entangle-run prints today (story
    lines from two threads interleave, so they are checked as a set;
    throughput and wall time vary)."""
    guide = open(os.path.join(root, "docs", "guide.md")).read()
    cmd = "$ build/examples/entangle-run mdn-basic\n"
    if cmd not in guide:
        expect(False, "docs/guide.md shows a run of entangle-run mdn-basic")
        return
    shown = guide.split(cmd, 1)[1].split("```", 1)[0].rstrip("\n")
    r = run(exe, "mdn-basic")
    got = r.stdout.rstrip("\n").split("\n")
    story = [x for x in shown.split("\n") if x.startswith("[")]
    missing = [x for x in story if x not in got]
    expect(r.returncode == 0 and story and not missing,
           f"the guide's story lines occur in a real run (missing: "
           f"{missing[:2]})", r)
    head = "mdn-basic (size"
    want = shown[shown.index(head):].split("\n")
    have = r.stdout[r.stdout.index(head):].rstrip("\n").split("\n") \
        if head in r.stdout else []

    def key(line):  # timings vary: compare only their labels
        for k in ("  throughput ", "  wall time "):
            if line.startswith(k):
                return k
        return line
    same = [key(x) for x in want] == [key(x) for x in have]
    if not same:
        print(f"  the guide shows: {want}\n  a run prints:    {have}")
    expect(same, "the guide's summary is what a real run prints")


def check_unwritable(exe, work):
    """An output path in a directory the user may not write is refused
    before the run (as root, run entangle-run as nobody to see it)."""
    locked = os.path.join(work, "locked")
    os.makedirs(locked, exist_ok=True)
    user = None
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            print("skip: root without setpriv: cannot test a read-only dir")
            return
        user = 65534  # nobody
        os.chmod(locked, 0o755)  # root's, not writable by nobody
        for d in (work, os.path.dirname(work)):
            os.chmod(d, os.stat(d).st_mode | 0o005)
    else:
        os.chmod(locked, 0o555)
    target = os.path.join(locked, "t.json")
    start = time.monotonic()
    r = run(exe, "pipeline", "--messages", "100000000", "--trace", target,
            user=user)
    expect(r.returncode == 2 and "cannot write --trace" in r.stderr
           and "Permission denied" in r.stderr
           and time.monotonic() - start < 10,
           "an output in a read-only directory: exit 2 before running", r)
    os.chmod(locked, 0o755)


if __name__ == "__main__":
    main()
