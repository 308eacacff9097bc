#!/usr/bin/env python3
"""The library's sources compile with the tracing hooks compiled out.

`meson -Dtracing=false` (what scripts/bench builds as
build-release-notrace, and what a user may choose) compiles every
`#if ENTANGLE_TRACING` block the other way; the test builds never do. This
re-runs the build's own compile command of each library source that
names the macro or a tracing hook (ENTANGLE_TRACE, trace_..., tracer),
and of one includer of each src/ header that names the macro, with
-DENTANGLE_TRACING=0 and -fsyntax-only, so a hook that names a
traced-only member outside its #if fails here, not in a benchmark run.
Exits 77 (skipped) in a build that has no hooks to take out.

Usage: check_tracing_off.py BUILD_DIR SOURCE_ROOT
"""

import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys


def main():
    build, root = sys.argv[1], os.path.abspath(sys.argv[2])
    commands = os.path.join(build, "compile_commands.json")
    if not os.path.exists(commands):
        print(f"no {commands} (not a ninja build): skipped")
        return 77
    with open(commands) as f:
        db = json.load(f)
    src = os.path.join(root, "src")
    jobs = []
    for entry in db:
        path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
        if not path.startswith(src + os.sep) or not path.endswith(".cpp"):
            continue
        args = shlex.split(entry["command"])
        if "-DENTANGLE_TRACING=1" not in args:
            continue
        out, skip = [], False
        for a in args:
            if skip:
                skip = False
                continue
            if a in ("-o", "-MQ", "-MF"):
                skip = True
                continue
            if a in ("-c", "-MD", "ccache"):
                continue
            out.append("-DENTANGLE_TRACING=0" if a == "-DENTANGLE_TRACING=1"
                       else a)
        out.append("-fsyntax-only")
        jobs.append((path, entry["directory"], out))
    if not jobs:
        # A -Dtracing=false build: it compiles this way already.
        print("no library source is compiled with -DENTANGLE_TRACING=1 "
              "here: skipped")
        return 77

    def run(job):
        path, cwd, cmd = job
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        return path, r.returncode, r.stderr

    # The sources that name the macro or a hook, and for each src/ header
    # that names the macro, one source that includes it (a header's
    # blocks compile the same in every includer): a quarter of the
    # library, not all of it.
    marked = set()
    for dirpath, _, files in os.walk(src):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, errors="replace") as f:
                if "ENTANGLE_TRACING" in f.read():
                    marked.add(os.path.relpath(p, src))
    headers = {m for m in marked if m.endswith(".hpp")}
    hook = re.compile(r"ENTANGLE_TRAC|\btrace_|\btracer\b")
    chosen = []
    for job in sorted(jobs):
        with open(job[0], errors="replace") as f:
            text = f.read()
        covers = headers & set(re.findall(r'#include "([^"]+)"', text))
        if hook.search(text) or covers:
            chosen.append(job)
            headers -= covers
    jobs = chosen

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for path, rc, err in pool.map(run, jobs):
            if rc != 0:
                failed += 1
                print(f"FAIL {os.path.relpath(path, root)} with "
                      f"ENTANGLE_TRACING=0:\n{err}")
    print(f"{len(jobs) - failed} of {len(jobs)} sources compile with the "
          f"tracing hooks compiled out")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
