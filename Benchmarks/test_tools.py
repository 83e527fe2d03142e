#!/usr/bin/env python3
"""Tests of the benchmark scripts that need neither PyTorch nor ONNX Runtime nor a timing:
`targets.py` on small tables, how `compare.py`, `targets.py`, `examples.py`, `mnist_tutorial.py`,
`charlm_torch.py` and `Tools/check_mnist_roundtrip.py` answer bad input (one line on stderr, a
non-zero exit, no partial table), and the pure parts of `examples.py` (its JSON lines, thread
choice, targets and table), `mnist_tutorial.py` (IDX headers) and `charlm_torch.py` (the split,
windows and validation streams). Run from the repository root:

    python3 -m unittest discover -s Benchmarks -p 'test_*.py'
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
COMPARE, TARGETS = os.path.join(HERE, "compare.py"), os.path.join(HERE, "targets.py")
EXAMPLES, MNIST_TUTORIAL = os.path.join(HERE, "examples.py"), os.path.join(HERE, "mnist_tutorial.py")
CHARLM_TORCH = os.path.join(HERE, "charlm_torch.py")
MNIST_ROUNDTRIP = os.path.join(os.path.dirname(HERE), "Tools", "check_mnist_roundtrip.py")
sys.path.insert(0, HERE)
import charlm_torch  # noqa: E402  (these import PyTorch only inside their functions)
import compare  # noqa: E402  (the module; its main only runs as a script)
import examples  # noqa: E402
import mnist_tutorial  # noqa: E402

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


def without_torch(folder):
    """An environment whose `torch` and `numpy` fail to import (first on the path)."""
    for name in ("torch", "numpy"):
        with open(os.path.join(folder, name + ".py"), "w") as f:
            f.write("raise ImportError('simulated')\n")
    return dict(os.environ, PYTHONPATH=folder)


class OneLineErrorTests(unittest.TestCase):
    def assertOneLine(self, argv, fragment, status, prefix, env=None, cwd=None, stream="stderr"):
        done = run(argv, env=env, cwd=cwd)
        self.assertEqual(done.returncode, status, done.stderr + done.stdout)
        lines = getattr(done, stream).strip().splitlines()
        self.assertEqual(len(lines), 1, getattr(done, stream))
        self.assertTrue(lines[0].startswith(prefix), lines[0])
        self.assertIn(fragment, lines[0])
        if stream == "stderr":
            self.assertEqual(done.stdout, "")

    def test_examples_refuses_bad_arguments(self):
        for argv, fragment in [(["--seeds", "0,x"], "--seeds must be whole numbers"),
                               (["--seeds", "0,,1"], "must be a comma-separated list"),
                               (["--seeds", "1,1"], "lists one value twice"),
                               (["--seeds", "-1"], "must not be negative"),
                               (["--torch-threads", "0"], "thread counts must be positive"),
                               (["--only", "gru"], "invalid choice: 'gru'"),
                               (["--markdown", "/nonexistent/out.md"], "its folder does not exist"),
                               (["--only", "mnist", "--data", "/nonexistent"], "--data /nonexistent: no such folder"),
                               (["--only", "charlm", "--text", "/nonexistent.txt"], "no such file")]:
            with self.subTest(argv=argv):
                self.assertOneLine([EXAMPLES] + argv, fragment, 2, "examples.py: ")

    def test_examples_without_a_release_build_or_torch_is_one_line(self):
        with tempfile.TemporaryDirectory() as folder:
            self.assertOneLine([EXAMPLES, "--only", "mnist", "--data", folder], "not found: run `swift build -c release",
                               1, "examples.py: ", cwd=folder)
            os.makedirs(os.path.join(folder, ".build", "release"))
            with open(os.path.join(folder, ".build", "release", "recurrent"), "w"):
                pass
            self.assertOneLine([EXAMPLES, "--only", "mnist", "--data", folder], "need torch, numpy: python3 -m pip",
                               1, "examples.py: ", cwd=folder, env=without_torch(folder))

    def test_the_pytorch_programs_refuse_bad_input(self):
        with tempfile.TemporaryDirectory() as folder:
            self.assertOneLine([MNIST_TUTORIAL, "--threads", "0"], "--threads: must be positive", 2,
                               "mnist_tutorial.py: ")
            self.assertOneLine([MNIST_TUTORIAL, "--data", "/nonexistent"], "no such folder", 2, "mnist_tutorial.py: ")
            self.assertOneLine([MNIST_TUTORIAL, "--data", folder], "needs torch and numpy", 1, "mnist_tutorial.py: ",
                               env=without_torch(folder))
            self.assertOneLine([CHARLM_TORCH], "the following arguments are required: --text", 2, "charlm_torch.py: ")
            self.assertOneLine([CHARLM_TORCH, "--text", "/nonexistent.txt"], "no such file", 2, "charlm_torch.py: ")
            self.assertOneLine([CHARLM_TORCH, "--text", MNIST_TUTORIAL, "--lr", "nan"], "--lr: must be positive", 2,
                               "charlm_torch.py: ")
            self.assertOneLine([CHARLM_TORCH, "--text", MNIST_TUTORIAL], "needs torch", 1, "charlm_torch.py: ",
                               env=without_torch(folder))

    def test_the_mnist_round_trip_refuses_bad_input(self):
        with tempfile.TemporaryDirectory() as folder:
            self.assertOneLine([MNIST_ROUNDTRIP], "required: --model", 2, "check_mnist_roundtrip.py: ")
            self.assertOneLine([MNIST_ROUNDTRIP, "--model", "/nonexistent.safetensors"], "no such file", 2,
                               "check_mnist_roundtrip.py: ")
            self.assertOneLine([MNIST_ROUNDTRIP, "--model", MNIST_TUTORIAL, "--count", "0"], "must be positive", 2,
                               "check_mnist_roundtrip.py: ")
            self.assertOneLine([MNIST_ROUNDTRIP, "--model", MNIST_TUTORIAL, "--data", folder, "--binary",
                                os.path.join(folder, "recurrent")], "not found", 1, "FAILED: ", stream="stdout")
            self.assertOneLine([MNIST_ROUNDTRIP, "--model", MNIST_TUTORIAL, "--data", folder, "--binary",
                                MNIST_TUTORIAL], "needs torch, safetensors and numpy", 1, "FAILED: ",
                               env=without_torch(folder), stream="stdout")


class ExamplesHelperTests(unittest.TestCase):
    def test_the_last_json_line_is_the_result(self):
        self.assertEqual(examples.json_last_line('progress\n{"a": 1}\n{"epoch_seconds": 2.5}\n\n', "x"),
                         {"epoch_seconds": 2.5})
        for stdout, fragment in [("", "x printed nothing"), ("\n  \n", "x printed nothing"),
                                 ("{\"a\": 1}\nepoch 1 done", "did not end with a JSON line: epoch 1 done"),
                                 ("[1, 2]", "JSON that is not an object")]:
            with self.subTest(stdout=stdout):
                with self.assertRaises(examples.Failure) as caught:
                    examples.json_last_line(stdout, "x")
                self.assertIn(fragment, str(caught.exception))

    def test_a_failed_program_is_one_line_with_its_last_error(self):
        with self.assertRaises(examples.Failure) as caught:
            examples.last_json([sys.executable, "-c", "import sys; print('partial'); sys.exit('it broke\\nbadly')"],
                               "the program")
        self.assertEqual(str(caught.exception), "the program failed (exit status 1): badly")

    def test_results_must_hold_finite_numbers(self):
        self.assertEqual(examples.require({"a": 1, "b": 0.5}, ["a", "b"], "x"), {"a": 1, "b": 0.5})
        for result in [{"b": 1}, {"a": "1"}, {"a": True}, {"a": float("nan")}, {"a": float("inf")}, {"a": None}]:
            with self.subTest(result=result):
                with self.assertRaises(examples.Failure) as caught:
                    examples.require(result, ["a"], "x")
                self.assertIn("x: its JSON has no number a", str(caught.exception))

    def test_the_faster_thread_count_is_kept(self):
        runs = [{"threads": 1, "epoch_seconds": 6.7, "chars_per_second": 33000},
                {"threads": 2, "epoch_seconds": 29.8, "chars_per_second": 54000}]
        self.assertEqual(examples.faster(runs, "epoch_seconds", False)["threads"], 1)
        self.assertEqual(examples.faster(runs, "chars_per_second", True)["threads"], 2)
        tie = [{"threads": 1, "t": 1.0}, {"threads": 2, "t": 1.0}]
        self.assertEqual(examples.faster(tie, "t", False)["threads"], 1, "the first on a tie")
        self.assertEqual(examples.faster(runs[1:], "epoch_seconds", False)["threads"], 2)
        with self.assertRaises(ValueError):
            examples.faster([], "t", False)

    def test_means_are_over_the_seeds(self):
        self.assertEqual(examples.means([{"a": 1.0, "b": 2}, {"a": 2.0, "b": 4}], ["a", "b"]), {"a": 1.5, "b": 3})

    def test_targets_and_table(self):
        torch_means = {"epoch_seconds": 6.0, "test_accuracy": 0.81, "test_accuracy_full": 0.80}
        met = examples.compare_rows(examples.MNIST_METRICS, torch_means,
                                    {"epoch_seconds": 3.0, "test_accuracy": 0.805, "test_accuracy_full": 0.79})
        self.assertEqual(met, [
            ("MNIST seconds per epoch", "6.00", "3.00", "2.00×", "≤ 0.5 × PyTorch (2× faster)", "yes"),
            ("MNIST test accuracy (first 2000)", "0.8100", "0.8050", "0.99×", "≥ PyTorch − 0.005", "yes"),
            ("MNIST test accuracy (all 10000)", "0.8000", "0.7900", "0.99×", "—", "—")])
        missed = examples.compare_rows(examples.MNIST_METRICS, torch_means,
                                       {"epoch_seconds": 3.1, "test_accuracy": 0.8049, "test_accuracy_full": 0.9})
        self.assertEqual([row[5] for row in missed], ["no", "no", "—"])
        self.assertEqual(missed[0][3], "1.94×")
        charlm = examples.compare_rows(examples.CHARLM_METRICS, {"chars_per_second": 40000, "val_bits_per_char": 2.56},
                                       {"chars_per_second": 60000, "val_bits_per_char": 2.5})
        self.assertEqual(charlm[0], ("charlm characters/s", "40000", "60000", "1.50×", "≥ 1.5 × PyTorch", "yes"))
        self.assertEqual(charlm[1][5], "—")
        slow = examples.compare_rows(examples.CHARLM_METRICS, {"chars_per_second": 40000, "val_bits_per_char": 2.56},
                                     {"chars_per_second": 59999, "val_bits_per_char": 2.5})
        self.assertEqual(slow[0][5], "no")
        table = examples.format_table(met).splitlines()
        self.assertEqual(table[0], "| metric | PyTorch | Recurrent | ratio | target | met? |")
        self.assertEqual(table[1], "|---|---|---|---|---|---|")
        self.assertEqual(table[2], "| MNIST seconds per epoch | 6.00 | 3.00 | 2.00× | ≤ 0.5 × PyTorch (2× faster) | yes |")
        self.assertEqual(len(table), 5)

    def test_the_commands_match_the_brief(self):
        self.assertEqual(examples.MNIST_ARGS, ["--epochs", "1", "--batch-size", "50", "--lr", "0.001", "--hidden-size",
                                               "64", "--cell", "lstm", "--eval-every", "0"])
        self.assertEqual(examples.CHARLM_SETTINGS, {"max-chars": 300000, "window": 25, "batch-size": 64,
                                                    "embedding-size": 64, "hidden-size": 256, "epochs": 1,
                                                    "lr": 0.002})


class PyTorchProgramHelperTests(unittest.TestCase):
    def test_idx_headers(self):
        import struct
        data = struct.pack(">HBBIII", 0, 8, 3, 2, 28, 28) + bytes(2 * 28 * 28)
        self.assertEqual(mnist_tutorial.idx_header(data, "x"), ((2, 28, 28), 16))
        labels = struct.pack(">HBBI", 0, 8, 1, 3) + bytes([1, 2, 3])
        self.assertEqual(mnist_tutorial.idx_header(labels, "y"), ((3,), 8))
        for broken, fragment in [(b"\x00\x00", "only 2 bytes"), (struct.pack(">HBBI", 0, 9, 1, 3) + bytes(12),
                                                                 "not an IDX file of unsigned bytes"),
                                 (struct.pack(">HBB", 0, 8, 3) + bytes(4), "header cut short"),
                                 (labels[:-1], "says 3 = 3 bytes, file holds 2")]:
            with self.subTest(fragment=fragment):
                with self.assertRaises(mnist_tutorial.Failure) as caught:
                    mnist_tutorial.idx_header(broken, "f")
                self.assertIn(fragment, str(caught.exception))

    def test_the_character_split_windows_and_streams(self):
        self.assertEqual(charlm_torch.split_point(300000), 270000)
        self.assertEqual(charlm_torch.split_point(105), 95)  # the tail is the fraction rounded down
        # 26 tokens hold one window of 25 and its next token; 51 tokens hold two.
        self.assertEqual(charlm_torch.window_starts(26, 25), [0])
        self.assertEqual(charlm_torch.window_starts(50, 25), [0])
        self.assertEqual(charlm_torch.window_starts(51, 25), [0, 25])
        self.assertEqual(charlm_torch.window_starts(25, 25), [])
        # 30000 validation tokens: 64 streams of 468 steps, 18 chunks of 25 and one of 18.
        chunks = charlm_torch.stream_chunks(30000, 64, 25)
        self.assertEqual(len(chunks), 19)
        self.assertEqual(chunks[0], (0, 25))
        self.assertEqual(chunks[-1], (450, 18))
        self.assertEqual(sum(length for _, length in chunks), (30000 - 1) // 64)
        with self.assertRaises(charlm_torch.Failure):
            charlm_torch.check_sizes(25, 1000, 25)
        with self.assertRaises(charlm_torch.Failure):
            charlm_torch.check_sizes(1000, 64, 25)
        charlm_torch.check_sizes(26, 65, 25)

    def test_reading_a_prefix_of_code_points(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "t.txt")
            with open(path, "wb") as f:
                f.write("añb\r\nc€d".encode("utf-8"))
            self.assertEqual(charlm_torch.read_characters(path, 5), "añb\r\n")
            self.assertEqual(charlm_torch.read_characters(path, 100), "añb\r\nc€d")
            with open(path, "wb") as f:
                f.write(b"ab\xff")
            with self.assertRaises(charlm_torch.Failure) as caught:
                charlm_torch.read_characters(path, 10)
            self.assertIn("is not UTF-8", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
