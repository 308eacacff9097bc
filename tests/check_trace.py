#!/usr/bin/env python3
"""Checks entangle-run's trace files: the Chrome trace JSON parses, every
flow start has its finish (same id) and binds to a slice on its track, every
track is named once, the event cap holds and is reported, ports carry
distinct "p<id>" labels, a close instant counts only dropped messages; the
DOT file renders with Graphviz (skipped with a message when `dot` is
absent); the Mermaid diagram respects its cap; the committed
docs/images/mdn-basic.mmd (and its copy in docs/guide.md) is what the code
makes today.

Usage: check_trace.py ENTANGLE_RUN WORKDIR [SOURCE_ROOT]
"""
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def run(exe, *args):
    r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    if r.returncode == 2 and "build with tracing" in r.stderr:
        print("skip: built with -Dtracing=false")
        sys.exit(77)  # meson: skipped
    if r.returncode != 0:
        fail(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def check_chrome(path, cap=None):
    with open(path) as f:
        doc = json.load(f)  # must be valid JSON
    meta, events = doc["otherData"], doc["traceEvents"]
    names = Counter(e["tid"] for e in events
                    if e["ph"] == "M" and e["name"] == "thread_name")
    if any(n != 1 for n in names.values()):
        fail(f"a track is named more than once: {names}")
    slices = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            if e["tid"] not in names:
                fail(f"slice on an unnamed track: {e}")
            slices[e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
    # Slices on one track must nest or follow each other; viewers
    # misplace overlapping ones.
    for tid, spans in slices.items():
        stack = []
        for a, b in sorted(spans, key=lambda x: (x[0], -x[1])):
            # Touching slices (a delivery beginning where the last ended)
            # may differ by float rounding of ts + dur in microseconds.
            while stack and stack[-1] <= a + 1e-6:
                stack.pop()
            if stack and b > stack[-1] + 1e-3:
                fail(f"overlapping slices on track {tid}: ends {stack[-1]}, "
                     f"then [{a}, {b}]")
            stack.append(b)
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    if starts.keys() != finishes.keys():
        fail(f"unmatched flows: {set(starts) ^ set(finishes)}")
    for fid, s in starts.items():
        f = finishes[fid]
        if f.get("bp") != "e":
            fail(f"flow finish {fid} not bound to its enclosing slice")
        if not any(a <= s["ts"] <= b for a, b in slices[s["tid"]]):
            fail(f"flow start {fid} is not inside a slice of its track")
        if not any(a == f["ts"] for a, b in slices[f["tid"]]):
            fail(f"flow finish {fid} does not start a slice of its track")
        if f["ts"] < s["ts"]:
            fail(f"flow {fid} arrives before it leaves")
    contexts = [t for t in names if t != 0]
    if len(contexts) != meta["contexts"]:
        fail(f"{len(contexts)} context tracks, {meta['contexts']} contexts")
    kept = meta["events_kept"]
    if cap is not None:
        if kept != cap or not meta["truncated"] or meta["events_dropped"] <= 0:
            fail(f"cap {cap} not respected or not reported: {meta}")
        if not any("trace truncated" in e["name"] for e in events):
            fail("no 'trace truncated' marker")
    elif meta["truncated"]:
        fail(f"an uncapped trace says it was truncated: {meta}")
    print(f"ok: {path}: {len(events)} JSON events, {len(starts)} flows, "
          f"{len(contexts)} context tracks, kept {kept}, "
          f"dropped {meta['events_dropped']}")
    return len(starts), events


def check_ports(events, drops):
    """Port labels are "p<id>" and tell ports apart; close instants count
    only dropped messages (`drops`: the run's total, from its summary)."""
    labels = {e["args"]["port"] for e in events
              if "port" in e.get("args", {})} - {"none"}
    bad = [x for x in labels if not re.fullmatch(r"p[0-9]+", x)]
    if bad or len(labels) < 3:
        fail(f"port labels {sorted(labels)}: want distinct p<id> labels")
    closes = [e for e in events if e["ph"] == "i" and e["name"] == "close"]
    dropped = sum(e["args"]["dropped"] for e in closes)
    if dropped > drops:
        fail(f"close instants say {dropped} messages were dropped, the run "
             f"counted {drops} drops")
    print(f"ok: {len(labels)} distinct port labels, {len(closes)} closes "
          f"dropping {dropped} (run drops {drops})")
    return labels


def summary_drops(stdout):
    m = re.search(r"^  drops\s+(\d+) ", stdout, re.M)
    if not m:
        fail(f"no drops line in the summary:\n{stdout}")
    return int(m.group(1))


def check_committed_mmd(exe, work, root):
    """docs/images/mdn-basic.mmd and the guide's inline copy are what
    `entangle-run mdn-basic --quiet --sequence=...` writes now."""
    fresh = os.path.join(work, "mdn-basic.mmd")
    run(exe, "mdn-basic", "--quiet", f"--sequence={fresh}")
    made = open(fresh).read()
    committed = open(os.path.join(root, "docs", "images",
                                  "mdn-basic.mmd")).read()
    if made != committed:
        fail("docs/images/mdn-basic.mmd is stale; regenerate it with "
             "entangle-run mdn-basic --quiet "
             f"--sequence=docs/images/mdn-basic.mmd\nnow:\n{made}"
             f"committed:\n{committed}")
    guide = open(os.path.join(root, "docs", "guide.md")).read()
    if "```mermaid\n" + made + "```" not in guide:
        fail("docs/guide.md's mermaid block differs from "
             "docs/images/mdn-basic.mmd")
    print("ok: docs/images/mdn-basic.mmd and docs/guide.md are current")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    trace = os.path.join(work, "ring.json")
    dot = os.path.join(work, "ring.dot")
    mmd = os.path.join(work, "ring.mmd")
    r = run(exe, "relay-ring", "--size=3", "--messages=9", "--quiet",
            f"--trace={trace}", f"--graph={dot}", f"--sequence={mmd}",
            "--sequence-max=5")
    # 9 hops travel on the ring links, 9 "hop" messages reach home, the
    # page's link and start messages reach the workers: all with arrows.
    flows, events = check_chrome(trace)
    if flows < 18:
        fail(f"only {flows} flows for 9 hops")
    labels = check_ports(events, summary_drops(r.stdout))

    capped = os.path.join(work, "capped.json")
    run(exe, "pipeline", "--size=3", "--messages=200", "--quiet",
        f"--trace={capped}", "--trace-max-events=50")
    check_chrome(capped, cap=50)

    text = open(mmd).read()
    if not text.startswith("sequenceDiagram"):
        fail("the Mermaid file is not a sequence diagram")
    arrows = sum(1 for line in text.splitlines() if "-)" in line)
    if arrows != 5 or "more messages not shown" not in text:
        fail(f"Mermaid cap: {arrows} arrows (want 5) and a note")
    noted = set(re.findall(r"port (p[0-9]+)", text))
    if not noted or not noted <= labels:
        fail(f"Mermaid port notes {sorted(noted)} are not the trace's "
             f"labels {sorted(labels)}")
    print(f"ok: {mmd}: {arrows} arrows, cap noted, port notes {sorted(noted)}")

    if len(sys.argv) > 3:
        check_committed_mmd(exe, work, sys.argv[3])

    graph = open(dot).read()
    if not graph.startswith("digraph entangle {") or "dir=both" not in graph:
        fail("the DOT file has no entangled-port edge")
    if shutil.which("dot") is None:
        print("skip: Graphviz `dot` is not installed; DOT not rendered")
        return
    svg = os.path.join(work, "ring.svg")
    r = subprocess.run(["dot", "-Tsvg", dot, "-o", svg],
                       capture_output=True, text=True)
    if r.returncode != 0 or "<svg" not in open(svg).read():
        fail(f"dot -Tsvg failed: {r.stderr}")
    print(f"ok: {dot} renders with dot -Tsvg")


if __name__ == "__main__":
    main()
