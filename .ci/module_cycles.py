#!/usr/bin/env python3
"""Fails when the top-level modules of src/ import each other in a cycle.

A module is a file `src/X.rs` or a folder `src/X/`; an edge X -> Y is any `crate::Y`
path (in `use` lines or inline) inside X, or `super::Y` from a direct child of `src/`
(`src/X.rs` or `src/X/mod.rs`)... in practice `crate::` paths. Tests (`src/tests/`,
`#[cfg(test)]` modules in `tests*.rs` files) are left out. Prints the module graph's
strongly connected components of size > 1 and exits 1 if there is any.
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
SKIP_TOP = {"tests", "main", "lib"}


def top_modules():
    mods = {}
    for name in os.listdir(ROOT):
        path = os.path.join(ROOT, name)
        if name.endswith(".rs"):
            mod = name[:-3]
            files = [path]
        elif os.path.isdir(path):
            mod = name
            files = []
            for d, _, fs in os.walk(path):
                files += [os.path.join(d, f) for f in fs if f.endswith(".rs")]
        else:
            continue
        if mod in SKIP_TOP:
            continue
        files = [f for f in files if not os.path.basename(f).startswith("tests")]
        mods.setdefault(mod, []).extend(files)
    return mods


def strip_tests(text):
    """Drop `#[cfg(test)] mod … { … }` blocks (brace-matched) and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def edges(mods):
    g = {m: set() for m in mods}
    names = set(mods)
    for m, files in mods.items():
        for f in files:
            text = strip_tests(open(f, encoding="utf-8").read())
            for t in re.findall(r"\bcrate::(\w+)", text):
                if t in names and t != m:
                    g[m].add(t)
            # `use crate::{a, b::c}` groups
            for grp in re.findall(r"\bcrate::\{([^}]*)\}", text):
                for t in re.findall(r"(?:^|,)\s*(\w+)", grp):
                    if t in names and t != m:
                        g[m].add(t)
    return g


def sccs(g):
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def main():
    g = edges(top_modules())
    cycles = sccs(g)
    if not cycles:
        print(f"module cycles: none among {len(g)} top-level modules of src/")
        return 0
    for c in cycles:
        print("module cycle:", " <-> ".join(c))
        for a in c:
            back = sorted(b for b in g[a] if b in c)
            print(f"  {a} -> {', '.join(back)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
