#!/usr/bin/env python3
"""Compares two libraries measured by scripts/ab_bench.sh (`./build.sh bench ab REV`).

    bench/ab_compare.py LOGDIR [--base LABEL] [--margin 0.05]

LOGDIR holds {base,head}-ROUND-HARNESS.log files with RESULT rows (bench/README.md, "Result
rows"). For every hvrt row (family, workload, parameters, path) and every round, the cost ratio
head/base is taken twice:
  raw         head's value over base's value;
  normalised  the same after dividing each side by the first baseline row of the same family,
              workload and parameters measured in the same process (the C a VMM author would
              write), which cancels what the machine did to that process as a whole.
A cost is the value for a time unit and its inverse for a rate (a unit ending in /s) or a share
of work done (%), so a ratio
above 1 always means head is slower. Medians over the rounds are printed; a row is "slower" only
when both medians exceed 1 + margin and a one-sided sign test over the rounds (normalised ratios
where there are, raw otherwise) says p < 0.05 that head is slower; "faster" the other way round.
On a shared machine a single process can land 15% off (page placement), so the margin alone
flags noise.

Then, from {base,head}-HARNESS.icount (callgrind_annotate --inclusive=yes of one small run of
the same binary on each side), the instructions per call of every hvrt_* export: the same calls
on both sides, so a difference is a change of code path, not of the machine. Standard library only.
"""
import argparse
import glob
import math
import os
import re
import statistics
import sys
from collections import OrderedDict, defaultdict


def read_log(path):
    """The RESULT rows of one log: {(family, workload, params, path): (role, value, unit)}."""
    rows = OrderedDict()
    with open(path) as fh:
        for line in fh:
            if not line.startswith("RESULT\t"):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) != 8:
                continue
            rows[(f[1], f[2], f[3], f[4])] = (f[5], float(f[6]), f[7])
    return rows


def cost(value, unit):
    # Rates (/s) and shares of work done (%: the writer's ticks done) are better when higher.
    if unit.endswith("/s") or unit == "%":
        return 1.0 / value if value > 0 else float("inf")
    return value


def baseline_of(rows, key):
    """The first baseline row's cost in the same family, workload and parameters, or None."""
    for k, (role, value, unit) in rows.items():
        if k[:3] == key[:3] and role == "baseline" and value > 0:
            return cost(value, unit)
    return None


def load(logdir):
    """{(side, round): {harness: rows}}."""
    runs = defaultdict(dict)
    for path in sorted(glob.glob(os.path.join(logdir, "*-*-*.log"))):
        m = re.match(r"(base|head)-(\d+)-(.+)\.log$", os.path.basename(path))
        if m:
            runs[(m.group(1), int(m.group(2)))][m.group(3)] = read_log(path)
    return runs


def sign_p(k, n):
    """P(X >= k) for X ~ Binomial(n, 1/2): the chance of k or more rounds one way by luck."""
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n


def compare(runs, margin):
    rounds = sorted({r for (_, r) in runs})
    ratios = OrderedDict()  # key -> (unit, [raw], [normalised])
    for r in rounds:
        base, head = runs.get(("base", r), {}), runs.get(("head", r), {})
        for harness, hrows in head.items():
            brows = base.get(harness, {})
            for key, (role, hv, unit) in hrows.items():
                if role != "hvrt" or key not in brows or hv <= 0 or brows[key][1] <= 0:
                    continue
                raw = cost(hv, unit) / cost(brows[key][1], unit)
                hb, bb = baseline_of(hrows, key), baseline_of(brows, key)
                norm = raw * bb / hb if hb and bb else None
                entry = ratios.setdefault(key, (unit, [], []))
                entry[1].append(raw)
                if norm is not None:
                    entry[2].append(norm)
    out = []
    for key, (unit, raw, norm) in ratios.items():
        mr = statistics.median(raw)
        mn = statistics.median(norm) if norm else None
        both = [mr] + ([mn] if mn is not None else [])
        tested = norm or raw
        p_slower = sign_p(sum(1 for x in tested if x > 1), len(tested))
        p_faster = sign_p(sum(1 for x in tested if x < 1), len(tested))
        if min(both) > 1 + margin and p_slower < 0.05:
            verdict = "slower"
        elif max(both) < 1 - margin and p_faster < 0.05:
            verdict = "faster"
        else:
            verdict = "same"
        out.append((key, unit, len(raw), mr, mn, verdict))
    return rounds, out


INCL = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\?\?\?:(hvrt_\w+) \[")
CALLS = re.compile(r"=> \?\?\?:(hvrt_\w+) \(([\d,]+)x\)")


def read_icount(path):
    """{export: (inclusive instructions, calls)} from callgrind_annotate --inclusive=yes output."""
    incl, calls = {}, defaultdict(int)
    with open(path) as fh:
        for line in fh:
            m = INCL.match(line)
            if m and m.group(2) not in incl:
                incl[m.group(2)] = int(m.group(1).replace(",", ""))
            for m in CALLS.finditer(line):
                calls[m.group(1)] += int(m.group(2).replace(",", ""))
    return {f: (incl[f], calls[f]) for f in incl if calls.get(f)}


def icounts(logdir, tolerance=0.02):
    """[(harness, export, calls, base per call, head per call, ratio, verdict)]."""
    out = []
    for hpath in sorted(glob.glob(os.path.join(logdir, "head-*.icount"))):
        harness = os.path.basename(hpath)[len("head-"):-len(".icount")]
        bpath = os.path.join(logdir, f"base-{harness}.icount")
        if not os.path.exists(bpath):
            continue
        head, base = read_icount(hpath), read_icount(bpath)
        for f in sorted(set(head) & set(base)):
            (hi, hc), (bi, bc) = head[f], base[f]
            if hc != bc:
                continue  # not the same calls: nothing to compare per call
            r = (hi / hc) / (bi / bc)
            verdict = "more" if r > 1 + tolerance else "fewer" if r < 1 - tolerance else "same"
            out.append((harness, f, hc, bi / bc, hi / hc, r, verdict))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logdir")
    ap.add_argument("--base", default="base")
    ap.add_argument("--margin", type=float, default=0.05)
    a = ap.parse_args()
    rounds, rows = compare(load(a.logdir), a.margin)
    ic = icounts(a.logdir)
    if not rows and not ic:
        print("ab_compare: no hvrt rows and no instruction counts measured on both sides", file=sys.stderr)
        return 1
    if rows:
        print(f"Cost ratio head/base (above 1: head slower), median of {len(rounds)} rounds; base = {a.base}; "
              f"margin {a.margin:.0%}\n")
        print("| family | workload | parameters | path | unit | rounds | raw | normalised | verdict |")
        print("|---|---|---|---|---|---:|---:|---:|---|")
        for (fam, wl, params, path), unit, n, mr, mn, verdict in rows:
            ns = f"{mn:.3f}" if mn is not None else "–"
            print(f"| {fam} | {wl} | {params} | {path} | {unit} | {n} | {mr:.3f} | {ns} | {verdict} |")
        counts = {v: sum(1 for r in rows if r[5] == v) for v in ("slower", "same", "faster")}
        print(f"\n{len(rows)} paths: {counts['slower']} slower, {counts['same']} same, {counts['faster']} faster")
    if ic:
        print("\nInstructions per call (callgrind, inclusive; the same calls on both sides; tolerance 2%)\n")
        print("| harness | export | calls | base | head | head/base | verdict |")
        print("|---|---|---:|---:|---:|---:|---|")
        for harness, f, calls, b, h, r, v in ic:
            print(f"| {harness} | {f} | {calls} | {b:.1f} | {h:.1f} | {r:.3f} | {v} |")
        n = {v: sum(1 for x in ic if x[6] == v) for v in ("more", "same", "fewer")}
        print(f"\n{len(ic)} exports: {n['more']} more instructions, {n['same']} same, {n['fewer']} fewer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
