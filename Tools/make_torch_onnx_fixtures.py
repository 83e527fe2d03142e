#!/usr/bin/env python3
"""Generate ONNX fixtures the way PyTorch users make them: ``torch.onnx.export`` of ``nn.RNN``
(tanh, relu), ``nn.GRU`` and ``nn.LSTM``, alone or followed by an ``nn.Linear`` head, with both
exporters, for RecurrentONNX's graph interpreter and ``RecurrentModel(onnx:)``.

Usage (from any directory)::

    python3 Tools/make_torch_onnx_fixtures.py

Pinned: torch 2.15.0, onnx 1.23.2, onnxruntime 1.32.0, onnxscript 0.7.2, safetensors 0.8.0.
Each run deletes and regenerates ``Tests/RecurrentTests/Fixtures/onnx_torch/`` and nothing else.

The grid: kinds ``rnn_tanh``, ``rnn_relu``, ``gru``, ``lstm`` x five shapes of model (1 to 3
layers, forward or bidirectional, time-major or ``batch_first``, initial states as graph inputs
or not, no head / a head at every step ``head(output)`` / a head on the last step
``head(output[:, -1])``) x two exporters:

- ``ts``: ``dynamo=False`` (TorchScript-based), each shape at another opset (9, 11, 13, 14, 17) so
  that Unsqueeze/Squeeze/Slice/Split are met with attributes and with inputs;
- ``dynamo``: ``dynamo=True`` (onnxscript-based), GRU and LSTM only: for ``nn.RNN`` this
  exporter unrolls the loop into MatMul/Tanh nodes for the example's length (no RNN node, no
  dynamic sequence axis), so there is nothing for ``RecurrentModel(onnx:)`` to convert.

Batch and sequence axes are dynamic: the model is exported on an example of T=5, B=2 and the
fixture feeds T=7, B=3. Per case ``NAME.onnx`` and ``NAME.safetensors`` holding ``feed.X`` (and
``feed.h0`` / ``feed.c0``) and PyTorch's outputs ``expect.output``, ``expect.h_n``,
``expect.c_n`` (LSTM), ``expect.prediction`` (with a head); the metadata records the case. ONNX
Runtime runs every exported file on the same feeds and must agree with PyTorch (asserted).
Deterministic: torch and numpy are seeded with the CRC-32 of the case name.
"""

from __future__ import annotations

import io
import logging
import shutil
import warnings
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors.numpy import save_file

assert torch.__version__.startswith("2.15.0"), torch.__version__
assert onnx.__version__ == "1.23.2", onnx.__version__
assert ort.__version__ == "1.32.0", ort.__version__

OUT = Path(__file__).resolve().parent.parent / "Tests" / "RecurrentTests" / "Fixtures" / "onnx_torch"
I, H, OUTPUTS = 3, 4, 2
EXAMPLE_T, EXAMPLE_B = 5, 2  # what the model is exported on
T, B = 7, 3                  # what the fixture feeds (other sizes: the axes must be dynamic)

KINDS = {"rnn_tanh": ("RNN", "tanh"), "rnn_relu": ("RNN", "relu"), "gru": ("GRU", None), "lstm": ("LSTM", None)}
# name: layers, bidirectional, batch_first, head (none / every_step / last_step), states given, TorchScript opset
SHAPES = {
    "l1": (1, False, False, "none", False, 9),
    "l2_bi_bf_head_states": (2, True, True, "every_step", True, 14),
    "l3_bf_states": (3, False, True, "none", True, 11),
    "l2_last_head": (2, False, False, "last_step", False, 13),
    "l1_bi_head_states": (1, True, False, "every_step", True, 17),
}


class Model(torch.nn.Module):
    """A recurrent layer and an optional Linear head; returns (prediction?, output, h_n, c_n?)."""

    def __init__(self, kind: str, layers: int, bidirectional: bool, batch_first: bool, head: str, states: bool):
        super().__init__()
        op, nonlinearity = KINDS[kind]
        extra = {"nonlinearity": nonlinearity} if nonlinearity else {}
        self.rnn = getattr(torch.nn, op)(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, **extra)
        self.head = torch.nn.Linear(H * (2 if bidirectional else 1), OUTPUTS) if head != "none" else None
        self.placement, self.states, self.lstm, self.batch_first = head, states, op == "LSTM", batch_first

    def forward(self, x, h0=None, c0=None):
        if self.states:
            output, state = self.rnn(x, (h0, c0) if self.lstm else h0)
        else:
            output, state = self.rnn(x)
        states = state if self.lstm else (state,)
        if self.head is None:
            return (output, *states)
        last = output[:, -1] if self.batch_first else output[-1]
        prediction = self.head(output if self.placement == "every_step" else last)
        return (prediction, output, *states)


def export(model: Model, name: str, exporter: str, opset: int, layers: int, directions: int) -> Path:
    """Writes NAME.onnx with dynamic batch and time axes; returns its path."""
    bf = model.batch_first
    x = torch.randn(EXAMPLE_B, EXAMPLE_T, I) if bf else torch.randn(EXAMPLE_T, EXAMPLE_B, I)
    args, names = (x,), ["X"]
    if model.states:
        args += (torch.randn(layers * directions, EXAMPLE_B, H),)
        names.append("h0")
        if model.lstm:
            args += (torch.randn(layers * directions, EXAMPLE_B, H),)
            names.append("c0")
    outputs = (["prediction"] if model.head is not None else []) + ["output", "h_n"] + (["c_n"] if model.lstm else [])
    path = OUT / f"{name}.onnx"
    quiet = io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(quiet), redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        if exporter == "ts":
            axes = {"X": {0: "batch", 1: "time"} if bf else {0: "time", 1: "batch"}}
            axes.update({n: {1: "batch"} for n in names[1:]})
            torch.onnx.export(model, args, str(path), input_names=names, output_names=outputs, dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
        else:
            batch, time = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("time", min=1, max=1024)
            shapes = [{0: batch, 1: time} if bf else {0: time, 1: batch}] + [{1: batch} for _ in names[1:]]
            program = torch.onnx.export(model, args, input_names=names, output_names=outputs, dynamic_shapes=tuple(shapes),
                                        dynamo=True)
            program.save(str(path), external_data=False)
    return path


def main() -> None:
    logging.disable(logging.WARNING)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    count = 0
    for kind in KINDS:
        for shape, (layers, bidirectional, bf, head, states, opset) in SHAPES.items():
            for exporter in ("ts", "dynamo"):
                if exporter == "dynamo" and kind.startswith("rnn"):
                    continue  # unrolled by the exporter (see the docstring)
                name = f"{kind}_{shape}_{exporter}"
                seed = zlib.crc32(name.encode())
                torch.manual_seed(seed)
                rng = np.random.default_rng(seed)
                model = Model(kind, layers, bidirectional, bf, head, states).eval()
                D = 2 if bidirectional else 1
                path = export(model, name, exporter, opset, layers, D)
                proto = onnx.load(str(path))
                onnx.checker.check_model(proto)
                feeds = {"X": rng.uniform(-1, 1, (B, T, I) if bf else (T, B, I)).astype(np.float32)}
                if states:
                    feeds["h0"] = rng.uniform(-1, 1, (layers * D, B, H)).astype(np.float32)
                    if kind == "lstm":
                        feeds["c0"] = rng.uniform(-1, 1, (layers * D, B, H)).astype(np.float32)
                with torch.no_grad():
                    expected = [t.numpy() for t in model(*(torch.from_numpy(v) for v in feeds.values()))]
                output_names = [o.name for o in proto.graph.output]
                assert len(output_names) == len(expected), (name, output_names)
                session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                ran = session.run(None, feeds)
                worst = 0.0
                for o, want, got in zip(output_names, expected, ran):
                    assert got.shape == want.shape, (name, o, got.shape, want.shape)
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{name} {o}: ONNX Runtime vs PyTorch")
                    worst = max(worst, float(np.abs(got - want).max()))
                tensors = {f"feed.{k}": v for k, v in feeds.items()}
                tensors.update({f"expect.{o}": np.ascontiguousarray(v) for o, v in zip(output_names, expected)})
                ops = sorted({n.op_type for n in proto.graph.node})
                opset_used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
                metadata = {"kind": kind, "layers": str(layers), "bidirectional": str(bidirectional).lower(),
                            "batch_first": str(bf).lower(), "head": head, "exporter": exporter, "opset": str(opset_used),
                            "operators": ",".join(ops)}
                save_file(tensors, str(OUT / f"{name}.safetensors"), metadata=metadata)
                count += 1
                print(f"{name}: opset {opset_used}, {len(proto.graph.node)} nodes ({', '.join(ops)}); ORT vs PyTorch max |diff| {worst:.2e}")
    size = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{count} cases, {size / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
