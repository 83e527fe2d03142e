#!/usr/bin/env python3
"""Tests of the benchmark scripts that need neither PyTorch nor ONNX Runtime nor a timing:
`targets.py` on small tables, and how `compare.py` and `targets.py` answer bad input (one line on
stderr, a non-zero exit, no partial table). Run from the repository root:

    python3 -m unittest discover -s Benchmarks -p 'test_*.py'
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
COMPARE, TARGETS = os.path.join(HERE, "compare.py"), os.path.join(HERE, "targets.py")
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the module; its main only runs as a script)

RATE_LINE = ("Matrix-product rate, 2048³ single precision, 2 threads: PyTorch (MKL) 326 GFLOP/s, ONNX Runtime (MLAS) "
             "293 GFLOP/s, Recurrent 297 GFLOP/s. The machine's rate is the highest of the three, 326 GFLOP/s; \"% of "
             "product rate\" is ours GFLOP/s ÷ that. The FMA ceiling (register-only fused multiply-adds on every "
             "thread, `recurrent bench --mode peak`) is 400 GFLOP/s: no engine's product can exceed it. Each rate is "
             "the better of two measurements, before and after the suite.")
ROWS = [
    # a forward row whose faster peer (ORT, 1.10×) misses 1.3×
    "| medium | forward | 20.00 / 21.00 | 26.00 / 30.00 | 22.00 / 25.00 | 1.30× | 1.10× | 335.5 | 70% | 60% | — |",
    # a training row that meets 1.5× and the memory target
    "| large | train | 100.00 / 110.00 | 160.00 / 170.00 | — | 1.60× | — | 335.5 | 80% | 70% | 150 / 700 |",
    # gru training: 2× asked, 1.90× measured; memory above PyTorch's
    "| gru | train | 50.00 / 55.00 | 95.00 / 99.00 | — | 1.90× | — | 300.0 | 80% | 70% | 800 / 700 |",
]


def table(rows=ROWS):
    return "\n".join([RATE_LINE, "", compare.HEADER] + rows) + "\n"


def run(argv, env=None, cwd=None):
    # The timeout turns a check that stopped working (and so started the suite) into a failure.
    return subprocess.run([sys.executable] + argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


class TargetsTests(unittest.TestCase):
    def targets(self, text):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "out.md")
            with open(path, "w") as f:
                f.write(text)
            return run([TARGETS, path])

    def test_rows_are_checked_against_the_targets(self):
        done = self.targets(table())
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        self.assertEqual(lines[0], "Matrix-product rate: 326 GFLOP/s; FMA ceiling: 400 GFLOP/s")
        # 1.3× of ORT's 22 ms needs 16.92 ms; 6.71 GFLOP in that time is 397 GFLOP/s: 122% of the
        # product rate (326) and 99% of the ceiling (400).
        self.assertIn("| medium | forward | 1.3× ORT | 1.10× | no | 16.92 ms | 122% | 99% |", lines)
        self.assertIn("| medium | forward | 65% of product rate | 70% | yes | — | — | — |", lines)
        self.assertIn("| large | train | 1.5× PyTorch | 1.60× | yes | 106.67 ms | — | — |", lines)
        self.assertIn("| large | train | peak memory ≤ PyTorch | 150 / 700 MB | yes | — | — | — |", lines)
        # 15 GFLOP in 47.5 ms: 316 GFLOP/s, 97% of 326 and 79% of 400.
        self.assertIn("| gru | train | 2.0× PyTorch | 1.90× | no | 47.50 ms | 97% | 79% |", lines)
        self.assertIn("| gru | train | peak memory ≤ PyTorch | 800 / 700 MB | no | — | — | — |", lines)

    def assertOneLineError(self, done, *fragments):
        self.assertNotEqual(done.returncode, 0)
        self.assertEqual(done.stdout, "", "nothing is printed before the error")
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])

    def test_a_missing_file_is_one_line(self):
        self.assertOneLineError(run([TARGETS, "/nonexistent/out.md"]), "cannot read", "No such file")

    def test_a_file_without_a_table_is_one_line(self):
        self.assertOneLineError(self.targets("# Notes\n\nNo table here.\n"), "is not a table from `compare.py")
        self.assertOneLineError(self.targets(RATE_LINE + "\n"), "is not a table")  # the rate line alone
        without_product_rate = table().replace("The machine's rate is the highest of the three, 326 GFLOP/s", "")
        self.assertOneLineError(self.targets(without_product_rate), "is not a table", "no rate lines")

    def test_a_row_that_does_not_parse_is_one_line_and_nothing_else(self):
        broken = ROWS[:2] + [ROWS[2].replace("1.90×", "n/a×")]
        self.assertOneLineError(self.targets(table(broken)), "does not parse", "| gru | train")


class CompareArgumentTests(unittest.TestCase):
    def assertRejected(self, argv, fragment, env=None, cwd=None, status=2):
        done = run([COMPARE] + argv, env=env, cwd=cwd)
        self.assertEqual(done.returncode, status, done.stderr)
        self.assertEqual(done.stdout, "")
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertTrue(lines[0].startswith("compare.py: "), lines[0])
        self.assertIn(fragment, lines[0])

    def test_unknown_configurations_are_named(self):
        self.assertRejected(["--only", "medium,tiny"], "unknown configuration tiny in --only; the suite has seed-mnist")

    def test_counts_must_be_positive(self):
        for option in ["--threads", "--rounds", "--repeat", "--min-ms"]:
            with self.subTest(option=option):
                self.assertRejected([option, "0"], f"argument {option}: must be positive, got 0")
        self.assertRejected(["--threads", "two"], "argument --threads: invalid int value")

    def test_a_markdown_file_in_a_missing_folder_is_refused_before_running(self):
        self.assertRejected(["--markdown", "/nonexistent/out.md"], "its folder does not exist")

    def fake_modules(self, folder, broken):
        """Modules named like the peers' packages, first on the path: those in `broken` fail to import."""
        for name in compare.PEER_MODULES:
            with open(os.path.join(folder, name + ".py"), "w") as f:
                f.write("raise ImportError('simulated')\n" if name in broken else "")
        return dict(os.environ, PYTHONPATH=folder)

    def test_missing_peers_say_what_to_install(self):
        with tempfile.TemporaryDirectory() as folder:
            env = self.fake_modules(folder, broken={"torch", "onnx"})
            self.assertRejected(["--only", "medium"], "the peers need torch, onnx: python3 -m pip install -r "
                                "Benchmarks/requirements.txt", env=env, status=1)

    def test_a_missing_release_build_says_how_to_make_it(self):
        with tempfile.TemporaryDirectory() as folder:
            env = self.fake_modules(folder, broken=set())
            self.assertRejected(["--only", "medium"], "not found: run `swift build -c release`", env=env, cwd=folder,
                                status=1)


class CompareHelperTests(unittest.TestCase):
    def test_a_failed_command_is_one_line_with_its_last_error(self):
        with self.assertRaises(compare.Failure) as caught:
            compare.last_json([sys.executable, "-c", "import sys; print('partial'); sys.exit('it broke\\nbadly')"])
        self.assertIn("failed (exit status 1): badly", str(caught.exception))
        with self.assertRaises(compare.Failure) as caught:
            compare.last_json([sys.executable, "-c", "print('not json')"])
        self.assertIn("did not end with a JSON line: not json", str(caught.exception))
        self.assertEqual(compare.last_json([sys.executable, "-c", "print('x'); print('{\"a\": 1}')"]), {"a": 1})

    def test_the_table_replaces_the_file_whole(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "out.md")
            with open(path, "w") as f:
                f.write("an older, longer table\n" * 10)
            compare.write_atomically(path, "new\n")
            with open(path) as f:
                self.assertEqual(f.read(), "new\n")
            self.assertEqual(os.listdir(folder), ["out.md"], "no temporary file is left behind")
            umask = os.umask(0)
            os.umask(umask)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o666 & ~umask)


if __name__ == "__main__":
    unittest.main()
