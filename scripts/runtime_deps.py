#!/usr/bin/env python3
"""The arrows between runtime/ parts, and the layering guard that ./build.sh test runs.

Each top folder of runtime/ is one part with one C# namespace (Hvrt.<Folder>; runtime/Vm is
Hvrt.Machine, since a namespace named Vm would hide the class Vm). Parts are siblings under Hvrt,
so a file reaches another part only by naming its namespace: a using (plain, static, alias,
global), a qualified Hvrt.X. mention, or X.Type through the parent namespace. Those are the
arrows, exact; the report lists the types of X each arrow uses (declared names found as words).

    scripts/runtime_deps.py [--check] [--dot] [RUNTIME_DIR]

--check fails (exit 1, one line per violation) when an arrow does not go down LAYERS, a part
other than Abi uses Hvrt.Abi, a runtime folder is not placed in LAYERS, a folder declares two
namespaces (or two folders one), a using names a part whose types the file never uses (it would
fake an arrow), or the arrows have a cycle. --dot prints the graph for Graphviz.
"""
import collections
import glob
import os
import re
import sys

# Bottom to top: a part may use only the parts below it.
LAYERS = [
    "Testing",     # the fault-injection switches the lowest parts consult
    "Layout",      # the ground floor: Errno and every C struct (uapi, hvrt.h, hvrt_inline.h)
    "Platform",    # libc
    "Memory",      # native allocation, poisoning, quarantine
    "Bits",        # the SIMD bit kernels
    "Sync",        # read sections, registered readers, grace periods
    "Attributes",  # the memory attribute store and its lock-free view
    "Index",       # snapshots, the search, last hits, the translator, range queries
    "Slots",       # KVM's slot rules, slot sets, private files
    "Kvm",         # ioctls on a KVM VM fd and the binding that mirrors changes into it
    "Conversion",  # private <-> shared
    "DirtyLog",    # dirty bitmaps and marking
    "Vm",          # the VM: its handle and the writer that orchestrates the parts below
    "RunLoop",     # vCPUs and their exits
    "Abi",         # the exports only
]

DECL = re.compile(r"\b(?:class|struct|enum|interface|record(?:\s+struct|\s+class)?)\s+([A-Z]\w*)")
NAMESPACE = re.compile(r"^\s*namespace\s+([\w.]+)\s*[;{]", re.M)
USING = re.compile(r"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(Hvrt\.\w+)[\w.]*\s*;", re.M)


def strip(src):
    """Source without comments, string literals and char literals (a mention there is no use)."""
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r'@"(?:[^"]|"")*"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])\'', '""', src)
    return re.sub(r"//[^\n]*", "", src)


def load(root):
    """(files, problems): files are (part, path, code) of every .cs under a top folder of root."""
    files = []
    for f in sorted(glob.glob(os.path.join(root, "**", "*.cs"), recursive=True)):
        rel = os.path.relpath(f, root).split(os.sep)
        if len(rel) < 2 or "obj" in rel or "bin" in rel:
            continue
        with open(f, encoding="utf-8") as fh:
            files.append((rel[0], f, strip(fh.read())))
    return files


def model(root):
    files = load(root)
    problems = []
    ns_of = {}        # part -> namespace
    part_of_ns = {}   # namespace -> part
    found = collections.defaultdict(set)
    for part, _, code in files:
        found[part].update(NAMESPACE.findall(code))
    for part, names in sorted(found.items()):
        if len(names) != 1:
            problems.append(f"layering: runtime/{part} declares {len(names)} namespaces ({', '.join(sorted(names)) or 'none'}): a part has one")
            continue
        (ns,) = names
        if ns in part_of_ns:
            problems.append(f"layering: runtime/{part} and runtime/{part_of_ns[ns]} share namespace {ns}")
        ns_of[part] = ns
        part_of_ns[ns] = part
    declared = collections.defaultdict(set)
    for part, _, code in files:
        declared[part].update(DECL.findall(code))
    # part -> target -> {file: types}
    edges = collections.defaultdict(lambda: collections.defaultdict(dict))
    short = {ns.split(".")[-1]: p for p, ns in ns_of.items() if ns.count(".") == 1 and ns.startswith("Hvrt.")}
    for part, path, code in files:
        words = set(re.findall(r"\b[A-Z]\w*\b", code))
        targets = {}
        for ns in USING.findall(code):
            if ns in part_of_ns:
                targets.setdefault(part_of_ns[ns], "using")
        for ns in re.findall(r"\b(Hvrt\.\w+)\.", code):
            if ns in part_of_ns:
                targets.setdefault(part_of_ns[ns], "qualified")
        for last, typ in re.findall(r"(?<![\w.])([A-Z]\w*)\.([A-Z]\w*)", code):
            p = short.get(last)
            if p is not None and p != part and typ in declared[p] and last not in declared[part]:
                targets.setdefault(p, "qualified")
        for target, how in targets.items():
            if target == part:
                continue
            used = sorted(words & declared[target])
            name = os.path.relpath(path, root)
            if not used and how == "using":
                problems.append(f"layering: {name} has `using {ns_of[target]};` but uses none of its types (an unused using fakes an arrow)")
                continue
            edges[part][target][name] = used
    return ns_of, edges, problems


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


def violations(ns_of, edges):
    out = []
    for part in sorted(ns_of):
        if part not in LAYERS:
            out.append(f"layering: runtime/{part} is not placed in LAYERS (scripts/runtime_deps.py): a new part goes in on purpose")
    rank = {p: i for i, p in enumerate(LAYERS)}
    for a in sorted(edges):
        for b in sorted(edges[a]):
            for f, used in sorted(edges[a][b].items()):
                why = f"{f} uses {ns_of.get(b, b)}: {', '.join(used) or '(qualified)'}"
                if b == "Abi":
                    out.append(f"layering: {a} -> Abi ({why}): only runtime/Abi may use Hvrt.Abi")
                elif a in rank and b in rank and rank[b] >= rank[a]:
                    out.append(f"layering: {a} -> {b} ({why}) goes up: {a} is below {b}")
    for comp in cycles(edges):
        out.append(f"layering: cycle: {' '.join(comp)}")
    return out


def main(argv):
    check = "--check" in argv
    dot = "--dot" in argv
    args = [a for a in argv if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime")
    ns_of, edges, problems = model(root)
    bad = problems + violations(ns_of, edges)
    arrows = sum(len(t) for t in edges.values())
    if dot:
        print("digraph runtime {\n  rankdir=BT;")
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    if not check:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                types = sorted({t for used in edges[a][b].values() for t in used})
                print(f"{a} -> {b}: {', '.join(types)}")
        print(f"{arrows} arrows")
        print("layers, bottom to top: " + " ".join(LAYERS))
    for line in bad:
        print(line)
    if check:
        if bad:
            print(f"layering: {len(bad)} violation(s)")
            return 1
        print(f"layering: {len(ns_of)} parts, {arrows} arrows, no cycle, every arrow goes down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
