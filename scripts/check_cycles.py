#!/usr/bin/env python3
"""check_cycles.py - the code's shape: no two files that call each other, no long functions.

Two rules from docs (issue 10, "How to know it worked"), checked on a built tree:

  cycles     No file calls a function defined in a file that calls it back, directly or
             through others. The edges come from the compiler's own output, not from
             reading C: for every object of the project's libraries, `nm` lists the
             global symbols it defines and the ones it needs (U); file A -> file B when A
             needs a symbol B defines. Data counts as well as functions: a table of
             function pointers (a cgroup backend's ops) is a call made through data. A
             cycle is a strongly connected set of two or more files; a file using its own
             symbols is no edge.
  length     No function over MAX_LINES lines (from the line naming it to its closing
             brace), outside sandbox/init (the sandbox's pid 1, one static program) and
             tests/, which are not in the scanned objects.

Modules named in REPORT_ONLY (or in $REELBOX_SHAPE_REPORT_ONLY, space-separated) are
reported but do not fail the check: they are being reshaped by other changes. A module
leaves the list once it passes; an empty list makes every module count.

Usage: check_cycles.py [BUILD_DIR]   (default: build; it must have been built)
Prints one line per finding, then "cycles: N", "long functions: N" (the counted ones)
and a ctest-shaped closing line that scripts/test.sh sums; exits 1 when a counted
module has a cycle or a long function, 2 when there is nothing to check.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

MAX_LINES = 80
REPORT_ONLY = set()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def objects(build):
    """(object path, source path relative to ROOT) for the libraries and the binary.

    Tools built from the same sources (reelbox-policy-gen recompiles sandbox/policy.c)
    and the tests are left out: only what links into reelbox has call edges that count.
    Generated sources (the init and policy blobs, libav trampolines) live in the build
    tree and belong to no module."""
    top = os.path.join(build, "CMakeFiles")
    out = []
    for target in sorted(os.listdir(top)) if os.path.isdir(top) else []:
        if not target.endswith(".dir") or not (target.startswith("rb_") or target == "reelbox.dir"):
            continue
        base = os.path.join(top, target)
        for dirpath, _, files in os.walk(base):
            for f in files:
                if not f.endswith(".c.o"):
                    continue
                obj = os.path.join(dirpath, f)
                src = os.path.relpath(obj, base)[: -len(".o")]
                if os.sep in src and os.path.isfile(os.path.join(ROOT, src)):
                    out.append((obj, src))
    return out


def symbols(obj):
    """(defined global symbols, undefined symbols) of one object."""
    text = subprocess.run(["nm", "-P", obj], check=True, capture_output=True, text=True).stdout
    defined, needed = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind in ("T", "W", "D", "R", "B", "V", "G", "S", "C"):
            defined.add(name)
        elif kind == "U":
            needed.add(name)
    return defined, needed


def call_graph(objs):
    """{file: {callee file: [functions]}} over every object."""
    owner, needs = {}, {}
    for obj, src in objs:
        defined, needed = symbols(obj)
        for name in defined:
            owner.setdefault(name, src)
        needs[src] = needed
    graph = {src: defaultdict(list) for src in needs}
    for src, needed in needs.items():
        for name in sorted(needed):
            callee = owner.get(name)
            if callee and callee != src:
                graph[src][callee].append(name)
    return graph


def cycles(graph):
    """Strongly connected sets of two or more files (Tarjan), each sorted."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def strip_c(text):
    """The text with comments, string and character literals and preprocessor lines
    blanked, newlines kept: braces and parentheses left are the code's own."""
    out, i, n = [], 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            # a directive, with its continuation lines (macro bodies hold braces)
            while i < n and not (text[i] == "\n" and text[i - 1] != "\\"):
                out.append("\n" if text[i] == "\n" else " ")
                i += 1
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
            continue
        if c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1 : j]) + c)
            i = j + 1
            continue
        if c == "\n":
            at_line_start = True
        elif not c.isspace():
            at_line_start = False
        out.append(c)
        i += 1
    return "".join(out)


def functions(path):
    """(name, first line, lines) of every function defined in a C file."""
    code = strip_c(open(path, encoding="utf-8", errors="replace").read())
    found, depth, i = [], 0, 0
    while i < len(code):
        c = code[i]
        if c == "{" and depth == 0:
            end = matching(code, i, "{", "}")
            name_at = function_name(code, i)
            if name_at is not None:
                name, at = name_at
                first = code.count("\n", 0, at) + 1
                last = code.count("\n", 0, end) + 1
                found.append((name, first, last - first + 1))
            i = end + 1
            continue
        i += 1
    return found


def matching(code, i, open_c, close_c):
    depth = 0
    for j in range(i, len(code)):
        if code[j] == open_c:
            depth += 1
        elif code[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def function_name(code, brace):
    """The name of the function whose body opens at brace, or None when the brace opens
    a struct, enum or initializer. A body follows a ')' (the parameter list, or an
    __attribute__ after it)."""
    j = brace - 1
    while j >= 0 and code[j].isspace():
        j -= 1
    while j >= 0 and code[j] == ")":
        depth, k = 0, j
        while k >= 0:
            if code[k] == ")":
                depth += 1
            elif code[k] == "(":
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        m = re.search(r"([A-Za-z_]\w*)\s*$", code[:k])
        if not m:
            return None
        if m.group(1) in ("__attribute__", "__attribute"):
            j = m.start() - 1
            while j >= 0 and code[j].isspace():
                j -= 1
            continue
        return m.group(1), m.start(1)
    return None


def module_of(src):
    return src.split("/", 1)[0]


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    env = os.environ.get("REELBOX_SHAPE_REPORT_ONLY")
    report_only = set(env.split()) if env is not None else REPORT_ONLY
    objs = objects(build)
    if not objs:
        print(f"shape: no objects under {build}/CMakeFiles/rb_*.dir: build it first")
        print("shape: 0% tests passed, 2 tests failed out of 2")
        return 2
    note = lambda mod: " (reported only)" if mod in report_only else ""

    graph = call_graph(objs)
    counted_cycles = 0
    for comp in cycles(graph):
        mods = sorted({module_of(f) for f in comp})
        counted = any(m not in report_only for m in mods)
        counted_cycles += counted
        print(f"cycle{'' if counted else ' (reported only)'}: {' '.join(comp)}")
        members = set(comp)
        for a in comp:
            for b in sorted(graph[a]):
                if b in members:
                    back = " (calls back)" if a in graph[b] else ""
                    print(f"  {a} -> {b}{back}: {', '.join(graph[a][b])}")

    counted_long = 0
    for src in sorted({s for _, s in objs}):
        for name, first, lines in functions(os.path.join(ROOT, src)):
            if lines > MAX_LINES:
                mod = module_of(src)
                counted_long += mod not in report_only
                print(f"long function{note(mod)}: {src}:{first} {name}() {lines} lines")

    print(f"cycles: {counted_cycles}")
    print(f"long functions: {counted_long}")
    if report_only:
        print(f"shape: {', '.join(sorted(report_only))} reported only "
              "(REPORT_ONLY in scripts/check_cycles.py)")
    failed = (counted_cycles > 0) + (counted_long > 0)
    print(f"shape: {(2 - failed) * 50}% tests passed, {failed} tests failed out of 2")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
