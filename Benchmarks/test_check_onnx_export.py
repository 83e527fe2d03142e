#!/usr/bin/env python3
"""Tests of `Tools/check_onnx_export.py` that need neither numpy nor ONNX nor ONNX Runtime: its
grid (every variant, layer count, direction and structure the issue names), the model files'
metadata and tensor shapes, and one-line errors for a missing binary, an empty selection or a
missing package. Run from the repository root:

    python3 -m unittest discover -s Benchmarks -p 'test_*.py'
"""
import os
import subprocess
import sys
import tempfile
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tools")
SCRIPT = os.path.join(TOOLS, "check_onnx_export.py")
sys.path.insert(0, TOOLS)
import check_onnx_export as check  # noqa: E402  (numpy, onnx and onnxruntime are imported only inside main)


class GridTests(unittest.TestCase):
    def test_the_grid_covers_what_the_issue_names(self):
        cases = check.grid()
        names = [c.name for c in cases]
        self.assertEqual(len(names), len(set(names)), "case names are unique")
        exported = [c for c in cases if not c.refused]
        self.assertEqual({c.variant for c in exported} >= {v.variant for v in check.VARIANTS}, True)
        for v in check.VARIANTS:  # every variant at 1–3 layers, both directions
            mine = {(c.layers, c.bidirectional) for c in exported if c.variant == v.variant}
            self.assertEqual(mine, {(layers, bi) for layers in (1, 2, 3) for bi in (False, True)}, v.variant)
        for variant in ("lstm", "gru"):  # every structure, at every depth and direction
            mine = {(c.layers, c.bidirectional, c.batch_first, c.head, c.initial_states) for c in exported
                    if c.variant == variant and c.encoding == "features"}
            self.assertEqual(len(mine), 3 * 2 * 12, variant)
        self.assertEqual({c.encoding for c in exported}, {"features", "embedding", "one_hot"})
        self.assertEqual({c.kind for c in exported}, {"rnn", "gru", "lstm"})
        self.assertIn("relu", {c.nonlinearity for c in exported})
        self.assertTrue(any(not c.head_bias and c.head for c in exported))
        acts = {a[0] for c in exported for a in c.activations + c.reverse_activations}
        self.assertTrue({"LeakyRelu", "ThresholdedRelu", "Affine", "HardSigmoid", "ScaledTanh", "Elu", "Softsign", "Softplus"} <= acts)
        self.assertEqual(sorted(c.variant for c in cases if c.refused), ["gru_layer_norm", "lstm_proj"])

    def test_metadata_is_recurrents(self):
        c = next(c for c in check.grid() if c.variant == "lstm_acts_clip" and c.bidirectional and c.layers == 2)
        m = check.metadata(c)
        self.assertEqual((m["format"], m["kind"], m["num_layers"], m["bidirectional"], m["clip"]), ("recurrent", "lstm", "2", "true", "0.7"))
        self.assertEqual(m["activations"], "HardSigmoid,ScaledTanh,Softsign,Sigmoid,Elu,Affine")
        self.assertEqual(m["activation_alpha"], "0.3,0.9,0.0,0.0,0.7,0.8")
        self.assertEqual(m["activation_beta"], "0.4,1.1,0.0,0.0,0.0,0.1")
        tokens = next(c for c in check.grid() if c.encoding == "embedding" and c.head == "last_step")
        m = check.metadata(tokens)
        self.assertEqual((m["input"], m["embedding_count"], m["head_placement"], m["batch_first"]), ("embedding", "6", "last_step", "true"))

    def test_parameter_shapes_are_pytorchs(self):
        c = check.Case("lstm", "lstm", layers=2, bidirectional=True, head="every_step", peephole=True)
        shapes = dict(check.parameter_shapes(c))
        self.assertEqual(shapes["rnn.weight_ih_l0"], (12, 4))
        self.assertEqual(shapes["rnn.weight_ih_l1_reverse"], (12, 6))
        self.assertEqual(shapes["rnn.weight_hh_l1"], (12, 3))
        self.assertEqual(shapes["rnn.weight_peephole_l0_reverse"], (9,))
        self.assertEqual(shapes["fc.weight"], (2, 6))
        self.assertEqual(len(shapes), 2 * 2 * 5 + 2)
        proj = dict(check.parameter_shapes(check.Case("p", "lstm", layers=2, proj_size=2)))
        self.assertEqual((proj["rnn.weight_hr_l0"], proj["rnn.weight_hh_l0"], proj["rnn.weight_ih_l1"]), ((2, 3), (12, 2), (12, 2)))


class OneLineErrorTests(unittest.TestCase):
    def assertRefused(self, argv, fragment, env=None):
        done = subprocess.run([sys.executable, SCRIPT] + argv, capture_output=True, text=True, env=env, timeout=120)
        self.assertNotEqual(done.returncode, 0)
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertIn(fragment, lines[0])
        self.assertEqual(done.stdout, "")

    def test_a_missing_binary_says_how_to_build_it(self):
        self.assertRefused(["--recurrent", "/nonexistent/recurrent"], "swift build --product recurrent")

    def test_an_empty_selection_is_refused(self):
        self.assertRefused(["--recurrent", sys.executable, "--only", "no-such-case"], "no case name contains 'no-such-case'")

    def test_missing_packages_say_what_to_install(self):
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "onnxruntime.py"), "w") as f:
                f.write("raise ImportError('simulated')\n")
            env = dict(os.environ, PYTHONPATH=folder)
            self.assertRefused(["--recurrent", sys.executable, "--only", "lstm_l1_uni"], "pip install -r Tools/requirements.txt", env=env)


if __name__ == "__main__":
    unittest.main()
