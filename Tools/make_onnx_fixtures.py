#!/usr/bin/env python3
"""Generate single-node ONNX fixtures for RecurrentONNX (LSTM, GRU and RNN nodes over an
attribute grid) with ONNX Runtime's outputs.

Usage (from any directory)::

    python3 -m pip install -r Tools/requirements.txt     # onnx==1.23.2, onnxruntime==1.32.0
    python3 Tools/make_onnx_fixtures.py

Each run deletes and regenerates ``Tests/RecurrentTests/Fixtures/onnx/`` and nothing else.
Per case ``NAME.onnx`` holds one recurrent node (weights W, R, B, P as initializers; graph inputs
X and, where the case has them, sequence_lens, initial_h, initial_c) and ``NAME.safetensors``
holds ``feed.<input>`` (sequence_lens as F32: small integers, exact) and ``expect.<output>``
(Y, Y_h, and Y_c for an LSTM) in ONNX's shapes. Deterministic: numpy's generator is seeded with
the CRC-32 of the case name; ONNX Runtime runs with one thread; the safetensors metadata is empty.

The grid: every kind x direction (forward, reverse, bidirectional) x layout (0, 1); sequence_lens
(unequal lengths), initial states, bias and peepholes toggled across it; GRU with
linear_before_reset 0 and 1; LSTM with input_forget; and per kind a case with non-default
activations (activation_alpha / activation_beta packed as ONNX Runtime reads them, different per
direction) and one with clip.

The oracle is ONNX Runtime. It refuses layout=1, so a layout-1 case is run as its layout-0 twin
(the same node with layout 0; X, initial_h, initial_c transposed in, Y, Y_h, Y_c transposed out,
which is the whole of what ONNX says layout means). ``onnx.reference`` also runs each layout-1
node and the script prints whether it agrees to 1e-5: it does except where the case has
sequence_lens or an RNN with clip, which onnx.reference 1.23.2 ignores.
"""

from __future__ import annotations

import shutil
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

assert onnx.__version__ == "1.23.2", onnx.__version__
assert ort.__version__ == "1.32.0", ort.__version__

OUT = Path(__file__).resolve().parent.parent / "Tests" / "RecurrentTests" / "Fixtures" / "onnx"
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
T, B, I, H = 5, 3, 4, 3
OPSET = 14  # layout exists from opset 14


@dataclass
class Case:
    name: str
    op: str
    direction: str = "forward"
    layout: int = 0
    bias: bool = True
    seq_lens: bool = False
    state: bool = False
    peephole: bool = False
    input_forget: int = 0
    linear_before_reset: int = 0
    activations: list[str] | None = None
    alphas: list[float] | None = None
    betas: list[float] | None = None
    clip: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        return 2 if self.direction == "bidirectional" else 1


def cases() -> list[Case]:
    out: list[Case] = []
    n = 0
    for op in ("LSTM", "GRU", "RNN"):
        for direction in ("forward", "reverse", "bidirectional"):
            for layout in (0, 1):
                c = Case(f"{op.lower()}_{direction}_layout{layout}", op, direction, layout,
                         bias=n % 4 != 3, seq_lens=n % 4 in (0, 3), state=n % 3 != 1)
                if op == "LSTM":
                    c.peephole = layout == 0
                if op == "GRU":
                    c.linear_before_reset = n % 2
                out.append(c)
                n += 1
    out.append(Case("lstm_input_forget_peephole", "LSTM", "bidirectional", seq_lens=True, state=True,
                    peephole=True, input_forget=1))
    out.append(Case("gru_linear_before_reset_seq_lens", "GRU", "bidirectional", seq_lens=True, state=True,
                    linear_before_reset=1))
    out.append(Case("lstm_activations", "LSTM", "bidirectional", seq_lens=True, state=True,
                    activations=["HardSigmoid", "ScaledTanh", "Softsign", "Sigmoid", "Elu", "Affine"],
                    alphas=[0.3, 0.9, 0.8, 0.7], betas=[0.45, 1.1, 0.1]))
    out.append(Case("gru_activations", "GRU", "bidirectional", state=True, linear_before_reset=1,
                    activations=["HardSigmoid", "LeakyRelu", "Sigmoid", "Softplus"],
                    alphas=[0.25, 0.2], betas=[0.55]))
    out.append(Case("rnn_activations", "RNN", "bidirectional", seq_lens=True,
                    activations=["Relu", "ScaledTanh"], alphas=[1.2], betas=[0.8]))
    out.append(Case("lstm_activations_defaults", "LSTM", "forward", state=True,
                    activations=["HardSigmoid", "Elu", "LeakyRelu"]))
    out.append(Case("lstm_clip", "LSTM", "bidirectional", seq_lens=True, state=True, clip=0.6))
    out.append(Case("gru_clip", "GRU", "reverse", seq_lens=True, clip=0.5))
    out.append(Case("rnn_clip", "RNN", "forward", state=True, clip=0.4, layout=1))
    return out


def make_node_model(c: Case, rng: np.random.Generator, layout: int):
    g = GATES[c.op]
    k = 1 / np.sqrt(H)
    inits = {
        "W": rng.uniform(-k, k, (c.d, g * H, I)).astype(np.float32),
        "R": rng.uniform(-k, k, (c.d, g * H, H)).astype(np.float32),
    }
    if c.bias:
        inits["B"] = rng.uniform(-k, k, (c.d, 2 * g * H)).astype(np.float32)
    if c.peephole:
        inits["P"] = rng.uniform(-k, k, (c.d, 3 * H)).astype(np.float32)
    return inits


def model_for(c: Case, inits: dict, layout: int) -> onnx.ModelProto:
    x_shape = ["T", "N", I] if layout == 0 else ["N", "T", I]
    s_shape = [c.d, "N", H] if layout == 0 else ["N", c.d, H]
    y_shape = ["T", c.d, "N", H] if layout == 0 else ["N", "T", c.d, H]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    names = ["X", "W", "R", "B" if c.bias else "", "", "", "", ""]
    if c.seq_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["N"]))
        names[4] = "sequence_lens"
    if c.state:
        inputs.append(helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, s_shape))
        names[5] = "initial_h"
        if c.op == "LSTM":
            inputs.append(helper.make_tensor_value_info("initial_c", TensorProto.FLOAT, s_shape))
            names[6] = "initial_c"
    if c.peephole:
        names[7] = "P"
    while names[-1] == "":
        names.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if c.op == "LSTM" else [])
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape),
               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, s_shape)]
    if c.op == "LSTM":
        outputs.append(helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, s_shape))
    attrs: dict = dict(hidden_size=H, direction=c.direction)
    if layout:
        attrs["layout"] = layout
    if c.activations:
        attrs["activations"] = c.activations
    if c.alphas:
        attrs["activation_alpha"] = c.alphas
    if c.betas:
        attrs["activation_beta"] = c.betas
    if c.clip is not None:
        attrs["clip"] = c.clip
    if c.op == "LSTM" and c.input_forget:
        attrs["input_forget"] = c.input_forget
    if c.op == "GRU":
        attrs["linear_before_reset"] = c.linear_before_reset
    node = helper.make_node(c.op, names, outs, name=f"{c.op.lower()}_node", **attrs)
    init_list = [numpy_helper.from_array(v, k) for k, v in inits.items()]
    graph = helper.make_graph([node], c.name, inputs, outputs, init_list)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="make_onnx_fixtures.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def run_ort(model: onnx.ModelProto, feeds: dict) -> dict:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def fixture(c: Case) -> tuple[onnx.ModelProto, dict[str, np.ndarray], str]:
    rng = np.random.default_rng(zlib.crc32(c.name.encode()))
    inits = make_node_model(c, rng, c.layout)
    x = rng.uniform(-1.5, 1.5, (T, B, I)).astype(np.float32)  # time-major
    feeds0 = {"X": x}
    if c.seq_lens:
        feeds0["sequence_lens"] = np.array([T, 2, 4][:B], dtype=np.int32)
    if c.state:
        feeds0["initial_h"] = rng.uniform(-1, 1, (c.d, B, H)).astype(np.float32)
        if c.op == "LSTM":
            feeds0["initial_c"] = rng.uniform(-1, 1, (c.d, B, H)).astype(np.float32)
    got0 = run_ort(model_for(c, inits, 0), feeds0)
    model = model_for(c, inits, c.layout)
    note = "ort"
    if c.layout == 0:
        feeds, expect = feeds0, got0
    else:
        feeds = {k: (np.ascontiguousarray(v.swapaxes(0, 1)) if v.ndim == 3 else v) for k, v in feeds0.items()}
        expect = {"Y": np.ascontiguousarray(got0["Y"].transpose(2, 0, 1, 3))}
        for k in ("Y_h", "Y_c"):
            if k in got0:
                expect[k] = np.ascontiguousarray(got0[k].swapaxes(0, 1))
        note = "ort (layout-0 twin)"
        try:
            from onnx.reference import ReferenceEvaluator
            ref = ReferenceEvaluator(model)
            names = [o.name for o in model.graph.output]
            got = dict(zip(names, ref.run(None, feeds)))
            err = max(float(np.max(np.abs(got[k] - v))) for k, v in expect.items())
            # onnx.reference 1.23.2's RNN ignores clip: such a difference is reported, not fatal.
            note += " = onnx.reference" if err <= 1e-5 else f"; onnx.reference differs by {err:.3g}"
        except Exception as e:  # the reference refuses some attributes (e.g. sequence_lens)
            note += f"; onnx.reference refused: {type(e).__name__}"
    tensors = {f"feed.{k}": np.ascontiguousarray(v.astype(np.float32)) for k, v in feeds.items()}
    tensors.update({f"expect.{k}": np.ascontiguousarray(v.astype(np.float32)) for k, v in expect.items()})
    return model, tensors, note


def main() -> None:
    results = [(c, *fixture(c)) for c in cases()]
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    total = 0
    for c, model, tensors, note in results:
        onnx_path, st_path = OUT / f"{c.name}.onnx", OUT / f"{c.name}.safetensors"
        onnx_path.write_bytes(model.SerializeToString())
        save_file(tensors, str(st_path))
        total += onnx_path.stat().st_size + st_path.stat().st_size
        print(f"  {c.name:<36} {note}")
    print(f"onnx: {len(results)} cases, {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
