#!/usr/bin/env python3
"""Tests of the layering guard (runtime_deps.py): each rule fires on a small fake runtime tree,
and a clean tree passes. Run by ./build.sh test beside the guard itself."""
import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtime_deps  # noqa: E402

CLEAN = {
    "Layout/Errno.cs": "namespace Hvrt.Layout;\ninternal static class Errno { public const int EINVAL = 22; }\n",
    "Index/Search.cs": "using Hvrt.Layout;\nnamespace Hvrt.Index;\ninternal static class Search { static int F() => Errno.EINVAL; }\n",
    "Abi/Exports.cs": "using Hvrt.Index;\nnamespace Hvrt.Abi;\ninternal static class Exports { static void G() { Search.ToString(); } }\n",
}


def check(tree):
    """(exit code, output) of --check over a tree {path: source}."""
    with tempfile.TemporaryDirectory() as d:
        for path, src in tree.items():
            os.makedirs(os.path.join(d, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(d, path), "w", encoding="utf-8") as fh:
                fh.write(src)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = runtime_deps.main(["--check", d])
        return rc, out.getvalue()


def with_file(path, src):
    tree = dict(CLEAN)
    tree[path] = src
    return tree


class Guard(unittest.TestCase):
    def fails(self, tree, needle):
        rc, out = check(tree)
        self.assertEqual(rc, 1, out)
        self.assertIn(needle, out)

    def test_clean_tree_passes(self):
        rc, out = check(CLEAN)
        self.assertEqual(rc, 0, out)
        self.assertIn("3 parts, 2 arrows, no cycle, every arrow goes down", out)

    def test_upward_arrow(self):
        self.fails(with_file("Layout/Up.cs", "using Hvrt.Index;\nnamespace Hvrt.Layout;\nstatic class Up { static object X() => typeof(Search); }\n"),
                   "Layout -> Index (Layout/Up.cs uses Hvrt.Index: Search) goes up")

    def test_abi_used_outside_abi(self):
        self.fails(with_file("Index/Bad.cs", "using Hvrt.Abi;\nnamespace Hvrt.Index;\nstatic class Bad { static object X() => typeof(Exports); }\n"),
                   "only runtime/Abi may use Hvrt.Abi")

    def test_unplaced_folder(self):
        self.fails(with_file("Gadgets/G.cs", "namespace Hvrt.Gadgets;\nstatic class G {}\n"), "runtime/Gadgets is not placed in LAYERS")

    def test_alias_using_counts(self):
        self.fails(with_file("Layout/A.cs", "using S = Hvrt.Index.Search;\nnamespace Hvrt.Layout;\nstatic class A { static object X() => typeof(Search); }\n"),
                   "Layout -> Index")

    def test_qualified_mention_counts(self):
        self.fails(with_file("Layout/Q.cs", "namespace Hvrt.Layout;\nstatic class Q { static object X() => typeof(Hvrt.Index.Search); }\n"), "Layout -> Index")

    def test_sibling_relative_mention_counts(self):
        self.fails(with_file("Layout/R.cs", "namespace Hvrt.Layout;\nstatic class R { static object X() => typeof(Index.Search); }\n"), "Layout -> Index")

    def test_comments_and_strings_do_not_count(self):
        rc, out = check(with_file("Layout/C.cs", "namespace Hvrt.Layout;\n// uses Hvrt.Index.Search\n/* Index.Search */\nstatic class C { const string S = \"Hvrt.Index.Search\"; }\n"))
        self.assertEqual(rc, 0, out)

    def test_unused_using(self):
        self.fails(with_file("Index/U.cs", "using Hvrt.Layout;\nnamespace Hvrt.Index;\nstatic class U {}\n"), "uses none of its types")

    def test_two_namespaces_in_a_folder(self):
        self.fails(with_file("Index/Two.cs", "namespace Hvrt.Other;\nstatic class Two {}\n"), "runtime/Index declares 2 namespaces")

    def test_the_real_runtime_passes(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = runtime_deps.main(["--check", root])
        self.assertEqual(rc, 0, out.getvalue())


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print(f"hvrt-c: {result.testsRun - failed} passed, {failed} failed, 0 skipped")
    sys.exit(1 if failed else 0)
