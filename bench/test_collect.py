#!/usr/bin/env python3
"""Tests of bench/collect.py (run by `./build.sh test`): verdicts on both sides of a target's
line, BenchmarkDotNet report parsing (allocations, ISA paths vs scalar), and the splice that
rewrites only the generated part of RESULTS.md; and bench/ab_compare.py (`./build.sh bench ab`):
cost direction, the sign test's verdicts, the callgrind counts. Standard library only; prints
"hvrt-c: N passed, N failed, 0 skipped" like the C tests so build.sh counts it."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ab_compare  # noqa: E402
import collect  # noqa: E402

BDN_BITS = """
| Method        | Width | Mean       | Error | Median     | Ratio | Allocated | Alloc Ratio |
|-------------- |------ |-----------:|------:|-----------:|------:|----------:|------------:|
| **FindNextSet**   | **0**     | **1,200.0 μs** | **1.0 μs** | **1,200.0 μs** |  **1.50** |       **0 B** |          **NA** |
| OrReduce      | 0     |   800.0 μs | 1.0 μs |   800.0 μs |  1.00 |       0 B |          NA |
|               |       |            |       |            |       |           |             |
| **FindNextSet**   | **256**   |   **600.0 μs** | **1.0 μs** |   **600.0 μs** |  **0.90** |       **0 B** |          **NA** |
| OrReduce      | 256   |   700.0 μs | 1.0 μs |   700.0 μs |  1.00 |      24 B |          NA |
"""
BDN_WRITER = """
| Method       | Slots | Mean      | Error | Median    | Ratio | Allocated | Alloc Ratio |
|------------- |------ |----------:|------:|----------:|------:|----------:|------------:|
| Move         | 32764 |  12.40 μs | 1 μs |  12.40 μs |  0.66 |         - |          NA |
| CreateDelete | 32764 |  11.00 μs | 1 μs |  11.00 μs |  0.51 |      40 B |          NA |
| ArrayCopy    | 32764 |  22.00 μs | 1 μs |  22.00 μs |  1.00 |       0 B |          NA |
"""


def row(family, workload, params, path, role, value, unit):
    return f"RESULT\t{family}\t{workload}\t{params}\t{path}\t{role}\t{value}\t{unit}\n"


def make_logdir(d, inline_1=2.0, bsearch_1=2.5, export_1=12.0):
    with open(os.path.join(d, "translate.log"), "w") as f:
        f.write("# noise that is not a row\n")
        for n, inl, bs, ex in ((1, inline_1, bsearch_1, export_1), (64, 10.0, 20.0, 25.0), (4096, 20.0, 60.0, 65.0)):
            f.write(row("translate", "translate, random gfns", f"{n} slots", "reader_inline", "hvrt", inl, "ns/lookup"))
            f.write(row("translate", "translate, random gfns", f"{n} slots", "c_bsearch", "baseline", bs, "ns/lookup"))
            f.write(row("translate", "translate, random gfns", f"{n} slots", "export", "hvrt", ex, "ns/lookup"))
        f.write("RESULT\tmalformed\n")
    os.makedirs(os.path.join(d, "bdn", "results"))
    with open(os.path.join(d, "bdn", "results", "Hvrt.Bench.BitsBench-report-github.md"), "w") as f:
        f.write(BDN_BITS)
    with open(os.path.join(d, "bdn", "results", "Hvrt.Bench.WriterBench-report-github.md"), "w") as f:
        f.write(BDN_WRITER)


def verdicts(rows):
    return {name: (meas, v) for _, name, meas, v in collect.targets(rows)}


class Verdicts(unittest.TestCase):
    def rows(self, **kw):
        with tempfile.TemporaryDirectory() as d:
            make_logdir(d, **kw)
            return collect.read_rows(d) + collect.read_bdn(d, dry=False)

    def test_ratio_target_met_and_not_met(self):
        name = "inline (reader_inline) ≤ 1.0× C bsearch, 1..64 slots"
        self.assertEqual(verdicts(self.rows(inline_1=2.0, bsearch_1=2.5))[name][1], "met")
        meas, v = verdicts(self.rows(inline_1=2.6, bsearch_1=2.5))[name]
        self.assertEqual(v, "**NOT met**")
        self.assertIn("1.04×", meas)

    def test_margin_target_in_ns(self):
        name = "exported hvrt_translate ≤ C bsearch + 8 ns"
        self.assertEqual(verdicts(self.rows(export_1=10.4, bsearch_1=2.5))[name][1], "met")
        self.assertEqual(verdicts(self.rows(export_1=10.6, bsearch_1=2.5))[name][1], "**NOT met**")

    def test_absent_rows_are_not_measured_not_met(self):
        v = verdicts(self.rows())
        self.assertEqual(v["handle_exit ≤ 1% of a KVM_RUN round trip"][1], "not measured")

    def test_allocations_exact_zero_and_creation_shown_apart(self):
        rows = self.rows()
        name = [n for n in verdicts(rows) if n.startswith("0 B allocated in the BenchmarkDotNet suites")][0]
        meas, v = verdicts(rows)[name]
        # OrReduce at width 256 allocates 24 B: a baseline, but still a case of the suite.
        self.assertEqual(v, "**NOT met**")
        self.assertIn("24 B", meas)
        info = [t for t in collect.targets(rows) if t[1].startswith("(info) slot creation")]
        self.assertTrue(info and "CreateDelete: 40.0 B/op" in info[0][2])

    def test_bits_paths_against_scalar(self):
        rows = [r for r in self.rows() if r.workload == "BitsBench" and r.family == "BenchmarkDotNet"]
        by = {(r.params, r.path): r for r in rows}
        self.assertEqual(by[("FindNextSet, 2^28 bits", "scalar")].role, "baseline")
        self.assertEqual(by[("FindNextSet, 2^28 bits", "Vector256")].role, "hvrt")
        self.assertAlmostEqual(by[("FindNextSet, 2^28 bits", "Vector256")].value, 600e3)
        table = "\n".join(collect.family_tables(rows))
        self.assertIn("600 µs | 1,200 µs (0.50×)", table)

    def test_dash_allocation_is_not_a_number(self):
        rows = self.rows()
        move = [r for r in rows if r.family == "BenchmarkDotNet allocations" and r.path == "Move"]
        self.assertEqual(move, [])  # "-" (BenchmarkDotNet's "not measured") is not read as 0 B


class Splice(unittest.TestCase):
    def test_only_the_generated_part_changes(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "RESULTS.md")
            history = "\n# History\n\nhand-written, kept\n"
            with open(p, "w") as f:
                f.write("# Title\n\n" + collect.BEGIN + "\nold\n" + collect.END + "\n" + history)
            collect.splice(p, "new block\n")
            collect.splice(p, "newer block\n")
            text = collect.read_text(p)
            self.assertTrue(text.startswith("# Title\n\n" + collect.BEGIN + "\nnewer block\n" + collect.END))
            self.assertTrue(text.endswith(history))
            self.assertNotIn("old", text)
            self.assertEqual(text.count(collect.BEGIN), 1)

    def test_whole_run_through_the_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            make_logdir(d)
            out = os.path.join(d, "R.md")
            r = subprocess.run([sys.executable, os.path.join(HERE, "collect.py"), d, "--out", out, "--plot", ""],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            text = collect.read_text(out)
            self.assertIn("### Targets (issues", text)
            self.assertIn("| 3 | inline (reader_inline) ≤ 1.0× C bsearch, 1..64 slots |", text)
            self.assertIn("malformed row", r.stderr)


class AbCompareTests(unittest.TestCase):
    """bench/ab_compare.py on made-up RESULT logs and callgrind_annotate output."""

    @staticmethod
    def write_round(d, side, rnd, hvrt_ns, base_ns, rate):
        with open(os.path.join(d, f"{side}-{rnd}-translate.log"), "w") as fh:
            fh.write(f"RESULT\ttranslate\trandom\t64 slots\tc_flat\tbaseline\t{base_ns}\tns/lookup\n")
            fh.write(f"RESULT\ttranslate\trandom\t64 slots\texport\thvrt\t{hvrt_ns}\tns/lookup\n")
            fh.write(f"RESULT\tconcurrent\treaders\t64 slots\texport\thvrt\t{rate}\tlookups/s\n")

    def verdicts(self, rounds):
        with tempfile.TemporaryDirectory() as d:
            for r, (b, h) in enumerate(rounds, 1):
                self.write_round(d, "base", r, b[0], 10.0, b[1])
                self.write_round(d, "head", r, h[0], 10.0, h[1])
            _, rows = ab_compare.compare(ab_compare.load(d), 0.05)
        return {key[3] + "/" + unit: verdict for key, unit, _, _, _, verdict in rows}

    def test_a_slower_head_is_slower_and_a_higher_rate_faster(self):
        # 8 rounds: head 20% more ns every round, and 20% more lookups/s (a rate: better).
        v = self.verdicts([((10.0, 100.0), (12.0, 120.0))] * 8)
        self.assertEqual(v["export/ns/lookup"], "slower")
        self.assertEqual(v["export/lookups/s"], "faster")

    def test_noise_either_way_is_the_same(self):
        # Half the rounds 20% slower, half 20% faster: the sign test does not call it.
        v = self.verdicts([((10.0, 100.0), (12.0, 100.0)), ((10.0, 100.0), (8.0, 100.0))] * 4)
        self.assertEqual(v["export/ns/lookup"], "same")

    def test_too_few_rounds_are_not_a_verdict(self):
        # Two rounds slower by 50% are p = 0.25: not enough.
        v = self.verdicts([((10.0, 100.0), (15.0, 100.0))] * 2)
        self.assertEqual(v["export/ns/lookup"], "same")

    def test_sign_p(self):
        self.assertAlmostEqual(ab_compare.sign_p(8, 8), 1 / 256)
        self.assertAlmostEqual(ab_compare.sign_p(0, 5), 1.0)

    def test_instruction_counts(self):
        text = """--------------------------------------------------------------------------------
Ir                   file:function
--------------------------------------------------------------------------------
612,455,624 (95.74%)  ???:hvrt_vcpu_handle_exit [???]
18,000,004 ( 2.81%)          sum += hvrt_vcpu_handle_exit(v, 0, 0);
612,000,017 (95.66%)  => ???:hvrt_vcpu_handle_exit (3,000,000x)
"""
        with tempfile.TemporaryDirectory() as d:
            for side, total in (("base", "609,000,000"), ("head", "612,455,624")):
                with open(os.path.join(d, f"{side}-runloop.icount"), "w") as fh:
                    fh.write(text.replace("612,455,624", total, 1))
            rows = ab_compare.icounts(d)
        self.assertEqual(len(rows), 1)
        harness, export, calls, base, head, ratio, verdict = rows[0]
        self.assertEqual((harness, export, calls), ("runloop", "hvrt_vcpu_handle_exit", 3000000))
        self.assertAlmostEqual(base, 203.0)
        self.assertEqual(verdict, "same")  # +0.6%: inside the 2% tolerance


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print(f"hvrt-c: {result.testsRun - failed} passed, {failed} failed, 0 skipped")
    sys.exit(1 if failed else 0)
