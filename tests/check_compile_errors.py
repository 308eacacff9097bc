#!/usr/bin/env python3
"""Checks that a user's type mistake gets a compile error that names the fix
in its first error line (and nothing else), and that correct code around
the same overloads still compiles.

Each probe is a small program compiled with -fsyntax-only against the
source tree's headers. A "reject" probe must fail, its first line with
"error:" must contain the expected text, and it must have no further
errors (no page of candidates or cascades after the static_assert).

Usage: check_compile_errors.py WORKDIR INCLUDE_DIR COMPILER [ARGS...]
"""
import concurrent.futures
import os
import subprocess
import sys

PRELUDE = """#include <entangle/all.hpp>
#include <entangle/typed.hpp>
#include <map>
#include <string>
#include <vector>
using namespace entangle;
struct plain { int x = 0; };
struct inspected { int x = 0; };
template <class I>
typename I::result_type inspect(I& f, inspected& v) { return f(v.x); }
"""

# Must compile: ordinary calls next to the rejecting overloads.
ACCEPT = """
void f(context& self, const message_port& port, worker& w,
       broadcast_channel& bc, window_proxy& win) {
  port.post_message(1);
  port.post_message("text");
  port.post_message(std::string{"text"}, {port});
  port.post_message(value::arr({1, "two"}));
  std::vector<int> v{1, 2, 3};
  port.post_message(array(v.begin(), v.end()));
  port.post_message(value::obj({{"a", 1}}), {port});
  std::vector<transferable> list{port};
  port.post_message(true, list);
  w.post_message(2.5, {port});
  self.post_message(value{}, {port});
  bc.post_message(42);
  win.post_message("hi", "*", {port});
  post_typed(port, inspected{});
  on_typed<inspected>(port, [](inspected&) {});
  rpc::remote r;
  r.call("m", {1, "two", inspected{}});
  r.call<inspected>("m", {inspected{}}).then([](inspected&) {});
  r.call<double>("m").then([](double&) {});
  r.call<readable_stream<inspected>>("m");
  rpc::methods m{
    {"a", [](inspected x, double k, abort_signal s) { return x; }},
    {"b", [](std::string s) { return make_stream<inspected>().readable; }},
    {"c", [] { return promise<inspected>::make(); }},
  };
}
"""

REJECT = [
    ("a std::vector<int> on a port",
     "port.post_message(std::vector<int>{1, 2});",
     "entangle: a container of non-values (e.g. std::vector<int>)"),
    ("a std::vector<int> with a transfer list",
     "port.post_message(std::vector<int>{1, 2}, {port});",
     "entangle: a container of non-values"),
    ("a std::map to a worker",
     "w.post_message(std::map<std::string, int>{{\"a\", 1}});",
     "entangle: a std::map cannot be posted as is"),
    ("a lambda on a port",
     "port.post_message([] { return 1; });",
     "entangle: a function or lambda cannot be posted"),
    ("a lambda to the worker's global",
     "self.post_message([&self] {}, {port});",
     "entangle: a function or lambda cannot be posted"),
    ("a struct on a BroadcastChannel",
     "bc.post_message(plain{});",
     "entangle: this type is not a structured-clone value"),
    ("a std::map to a window",
     "win.post_message(std::map<int, int>{}, \"*\", {port});",
     "entangle: a std::map cannot be posted as is"),
    ("post_typed of a struct without inspect",
     "post_typed(port, plain{});",
     "entangle: T cannot be posted as a typed message because CAF cannot "
     "serialize it: give it a free `template <class Inspector>"),
    ("on_typed for a struct without inspect",
     "on_typed<plain>(port, [](plain&) {});",
     "entangle: T cannot be posted as a typed message"),
    ("an RPC argument of a type without inspect",
     "rpc::remote r; r.call(\"m\", {plain{}});",
     "entangle::rpc: this type can be neither a structured-clone value nor "
     "a typed message"),
    ("a lambda as an RPC argument",
     "rpc::remote r; r.call(\"m\", {[] {}});",
     "entangle::rpc: a function or lambda is not an argument: pass it by "
     "reference as rpc::proxy(fn)"),
    ("an RPC result type without inspect",
     "rpc::remote r; r.call<plain>(\"m\");",
     "entangle::rpc: this type can be neither"),
    ("a method parameter without inspect",
     "rpc::methods m{{\"f\", [](double, plain) {}}};",
     "entangle::rpc: a method parameter must be value, bool"),
    ("a method returning a type without inspect",
     "rpc::methods m{{\"f\", [] { return plain{}; }}};",
     "entangle::rpc: this type can be neither"),
    # The array form of the grouped-post hook (before trace_post_group):
    # an error, not a hook that is silently never called again.
    ("a tracer overriding on_posts(const trace_post*, size_t)",
     "struct old : tracer { void on_posts(const trace_post*, std::size_t) "
     "{} };",
     "final"),
]


def program(body):
    return (PRELUDE + "void f(context& self, const message_port& port, "
            "worker& w, broadcast_channel& bc, window_proxy& win) {\n  "
            + body + "\n}\n")


def compile_probe(cmd, path):
    r = subprocess.run(cmd + ["-fsyntax-only", path], capture_output=True,
                       text=True, timeout=300)
    return r.returncode, r.stderr


def main():
    work, include, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(work, exist_ok=True)
    cmd = cmd + ["-std=c++17", "-I", include]
    jobs = [("accept", "correct calls next to the checks", PRELUDE + ACCEPT,
             None)]
    for i, (what, body, needle) in enumerate(REJECT):
        jobs.append((f"reject{i}", what, program(body), needle))
    failures = []

    def check(job):
        name, what, text, needle = job
        path = os.path.join(work, name + ".cpp")
        with open(path, "w") as f:
            f.write(text)
        rc, err = compile_probe(cmd, path)
        errors = [line for line in err.splitlines() if "error:" in line]
        if needle is None:
            if rc != 0:
                return f"FAIL: {what}: does not compile:\n{err[:3000]}"
            return f"ok: {what} compile"
        if rc == 0:
            return f"FAIL: {what}: compiled, should be refused"
        if not errors or needle not in errors[0]:
            first = errors[0] if errors else "(no error line)"
            return (f"FAIL: {what}: the first error does not name the fix\n"
                    f"  want: {needle}\n  got:  {first}")
        if len(errors) != 1:
            return (f"FAIL: {what}: {len(errors)} errors, want only the "
                    f"readable one:\n" + "\n".join(errors[:5]))
        return f"ok: {what}: the only error is \"{needle[:50]}...\""

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for line in pool.map(check, jobs):
            print(line)
            if line.startswith("FAIL"):
                failures.append(line)
    if failures:
        print(f"{len(failures)} probe(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
