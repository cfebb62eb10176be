#!/usr/bin/env python3
"""The arrows between runtime/ folders: folder A -> B when a file in A names a type declared in B.

A report, not yet a guard: issue 17 (layer the runtime) turns it into one that ./build.sh test
runs. Prints every arrow with the types behind it, the count, and each group of folders that
reach each other in a cycle (Tarjan's strongly connected components). Types are found by name
(class/struct/enum/interface/record declarations), comments stripped: cheap and close enough to
see the shape; a name declared in two folders counts for the first in path order.

    scripts/runtime_deps.py [RUNTIME_DIR]
"""
import collections
import glob
import os
import re
import sys


def parts(root):
    files = [f for f in sorted(glob.glob(os.path.join(root, "**", "*.cs"), recursive=True))
             if os.sep + "obj" + os.sep not in f and os.sep + "bin" + os.sep not in f]
    return [(os.path.relpath(f, root).split(os.sep)[0], f) for f in files if os.sep in os.path.relpath(f, root)]


def arrows(root):
    files = parts(root)
    declared = {}
    for part, f in files:
        with open(f) as fh:
            for m in re.finditer(r"\b(?:class|struct|enum|interface|record)\s+([A-Z]\w*)", fh.read()):
                declared.setdefault(m.group(1), part)
    edges = collections.defaultdict(lambda: collections.defaultdict(set))
    for part, f in files:
        with open(f) as fh:
            src = re.sub(r"//.*", "", fh.read())
        for name in set(re.findall(r"\b[A-Z]\w*\b", src)):
            target = declared.get(name)
            if target and target != part:
                edges[part][target].add(name)
    return edges


def cycles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
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

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "runtime")
    edges = arrows(root)
    n = 0
    for a in sorted(edges):
        for b in sorted(edges[a]):
            n += 1
            print(f"{a} -> {b}: {', '.join(sorted(edges[a][b]))}")
    print(f"{n} arrows")
    for comp in cycles(edges):
        print(f"cycle: {' '.join(comp)}")


if __name__ == "__main__":
    main()
