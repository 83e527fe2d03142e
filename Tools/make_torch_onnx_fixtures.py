#!/usr/bin/env python3
"""Generate ONNX fixtures the way PyTorch users make them: ``torch.onnx.export`` of ``nn.RNN``
(tanh, relu), ``nn.GRU`` and ``nn.LSTM``, alone or followed by an ``nn.Linear`` head, with both
exporters, for RecurrentONNX's graph interpreter and ``RecurrentModel(onnx:)``.

Usage (from any directory)::

    python3 Tools/make_torch_onnx_fixtures.py

Pinned: torch 2.15.0, onnx 1.23.2, onnxruntime 1.32.0, onnxscript 0.7.2, safetensors 0.8.0.
Each run deletes and regenerates ``Tests/RecurrentTests/Fixtures/onnx_torch/`` and nothing else.

The grid: kinds ``rnn_tanh``, ``rnn_relu``, ``gru``, ``lstm`` x six shapes of model (1 to 3
layers, forward or bidirectional, time-major or ``batch_first``, initial states as graph inputs
or not, no head / a head at every step ``head(output)`` / a head on the last step
``head(output[:, -1])`` / a head on the last layer's final hidden state ``head(h_n[-1])``) x two
exporters:

- ``ts``: ``dynamo=False`` (TorchScript-based), each shape at another opset (9, 11, 12, 13, 14, 17) so
  that Unsqueeze/Squeeze/Slice/Split are met with attributes and with inputs;
- ``dynamo``: ``dynamo=True`` (onnxscript-based), all four kinds over the grid. For ``nn.RNN`` this
  exporter writes no RNN node: it unrolls the loop into per-step MatMul/Add/Tanh (Relu) nodes for
  the example's length (the input projection of all steps one MatMul + Add sliced per step, then
  per step ``act(h @ W_hhᵀ + b_hh + x_t)``; reverse directions read a flipped projection; the
  biases keep their PyTorch names, the weights become anonymous transposed constants). Those cases
  are named ``rnn_*_dynamo_unrolled`` and fed at the export length T=5.

Batch and sequence axes are asked to be dynamic: the model is exported on an example of T=5, B=2
and the fixture feeds T=7, B=3. The unrolled graphs keep only the batch dynamic (the script checks
that their input's time axis is fixed at 5 and the batch axis symbolic), so they are fed T=5, B=3;
their files also hold PyTorch's outputs for T=7 (``other_length.feed.*``, ``other_length.expect.*``),
which a model converted from the graph must reproduce (ONNX Runtime cannot run them). Per case ``NAME.onnx`` and ``NAME.safetensors`` holding ``feed.X`` (and
``feed.h0`` / ``feed.c0``) and PyTorch's outputs ``expect.output``, ``expect.h_n``,
``expect.c_n`` (LSTM), ``expect.prediction`` (with a head); the metadata records the case. ONNX
Runtime runs every exported file on the same feeds and must agree with PyTorch (asserted).
Deterministic: torch and numpy are seeded with the CRC-32 of the case name, and the dynamo
exporter's per-node stack traces are dropped (the files come out byte-identical, except the order
of the safetensors metadata keys, which safetensors writes from a hash map).

``ops/`` holds one small graph per interpreter operator semantic that the exports above do not
all reach (opset-dependent attributes and inputs, negative axes and steps, INT64_MAX ends,
Reshape's 0 and -1, Split's three forms, integer arithmetic, MatMul broadcasting, Gemm's
transposes, Cast, Constant's value forms), with ONNX Runtime's outputs as ``expect.<output>``
(int64 outputs stored as int64).
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
    "l2_bf_hn_head": (2, False, True, "last_hidden", False, 12),
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
        if self.placement == "last_hidden":  # the classifier of many tutorials: head(h_n[-1])
            last = states[0][-1]
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
            # The exporter records each node's Python stack trace (this machine's paths and this
            # script's line numbers): dropped, so that the files are reproducible.
            proto = onnx.load(str(path))
            for node in proto.graph.node:
                del node.metadata_props[:]
                node.doc_string = ""
            onnx.save(proto, str(path))
    return path


INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def operator_cases():
    """(name, opset, nodes, float inputs {name: shape}, int64 initializers, output names)."""
    from onnx import helper as h
    n = h.make_node
    i64 = lambda *v: np.array(v, dtype=np.int64)
    return [
        ("unsqueeze_attr_op11", 11, [n("Unsqueeze", ["x"], ["y"], axes=[0, -1])], {"x": (2, 3)}, {}, ["y"]),
        ("unsqueeze_input_op13", 13, [n("Unsqueeze", ["x", "a"], ["y"])], {"x": (2, 3)}, {"a": i64(-1, 0)}, ["y"]),
        ("squeeze_attr_op11", 11, [n("Squeeze", ["x"], ["y"], axes=[-2])], {"x": (2, 1, 3)}, {}, ["y"]),
        ("squeeze_all_op13", 13, [n("Squeeze", ["x"], ["y"])], {"x": (1, 2, 1, 3, 1)}, {}, ["y"]),
        ("slice_attr_op9", 9, [n("Slice", ["x"], ["y"], starts=[1, -2], ends=[1000, -1], axes=[0, 2])], {"x": (3, 2, 4)}, {}, ["y"]),
        ("slice_steps_op13", 13, [n("Slice", ["x", "s", "e", "a", "st"], ["y"])], {"x": (3, 5)},
         {"s": i64(-1, 1), "e": i64(INT64_MIN, INT64_MAX), "a": i64(0, -1), "st": i64(-1, 2)}, ["y"]),
        ("reshape_zero_infer_op13", 13, [n("Reshape", ["x", "s"], ["y"])], {"x": (2, 3, 4)}, {"s": i64(0, -1)}, ["y"]),
        ("reshape_allowzero_op14", 14, [n("Reshape", ["x", "s"], ["y"], allowzero=1)], {"x": (2, 3)}, {"s": i64(3, 2)}, ["y"]),
        ("gather_2d_negative", 13, [n("Gather", ["x", "i"], ["y"], axis=1)], {"x": (2, 3, 2)}, {"i": np.array([[-1, 0], [1, 1]], dtype=np.int64)}, ["y"]),
        ("shape_start_end_op15", 15, [n("Shape", ["x"], ["y"], start=-2), n("Shape", ["x"], ["z"], end=1)], {"x": (2, 3, 4)}, {}, ["y", "z"]),
        ("shape_plumbing_op13", 13, [n("Shape", ["x"], ["s"]), n("Gather", ["s", "k"], ["b"], axis=0), n("Unsqueeze", ["b", "a"], ["u"]),
                                     n("Concat", ["c", "u", "c"], ["shape"], axis=0), n("ConstantOfShape", ["shape"], ["y"], value=h.make_tensor("v", 7, [1], [7])),
                                     n("Expand", ["x", "e"], ["z"])],
         {"x": (2, 3, 1)}, {"k": np.array(1, dtype=np.int64), "a": i64(0), "c": i64(2), "e": i64(2, 1, 1, 4)}, ["y", "z"]),
        ("concat_negative_axis", 13, [n("Concat", ["x", "w"], ["y"], axis=-1)], {"x": (2, 3), "w": (2, 1)}, {}, ["y"]),
        ("transpose_default", 13, [n("Transpose", ["x"], ["y"])], {"x": (2, 3, 4)}, {}, ["y"]),
        ("split_attr_op11", 11, [n("Split", ["x"], ["y", "z"], axis=1, split=[1, 2])], {"x": (2, 3)}, {}, ["y", "z"]),
        ("split_input_op13", 13, [n("Split", ["x", "s"], ["y", "z"], axis=-1)], {"x": (2, 5)}, {"s": i64(4, 1)}, ["y", "z"]),
        ("split_equal_op13", 13, [n("Split", ["x"], ["y", "z"])], {"x": (4, 2)}, {}, ["y", "z"]),
        ("split_num_outputs_op18", 18, [n("Split", ["x"], ["y", "z"], axis=0, num_outputs=2)], {"x": (5, 2)}, {}, ["y", "z"]),
        ("cast_float_int_float", 13, [n("Mul", ["x", "k"], ["m"]), n("Cast", ["m"], ["i"], to=7), n("Cast", ["i"], ["y"], to=1)],
         {"x": (2, 3)}, {}, ["y"]),
        ("arithmetic_broadcast", 13, [n("Add", ["x", "w"], ["a"]), n("Sub", ["a", "x"], ["b"]), n("Mul", ["b", "x"], ["c"]), n("Div", ["c", "w"], ["y"])],
         {"x": (2, 3), "w": (3,)}, {}, ["y"]),
        ("integer_arithmetic", 13, [n("Div", ["p", "q"], ["d"]), n("Sub", ["d", "p"], ["s"]), n("Mul", ["s", "q"], ["m"]), n("Add", ["m", "p"], ["y"]),
                                    n("Shape", ["x"], ["sh"]), n("Mul", ["sh", "q"], ["z"])],
         {"x": (2, 3)}, {"p": i64(-7, 7), "q": i64(2, -3)}, ["y", "z"]),
        ("matmul_broadcast", 13, [n("MatMul", ["x", "w"], ["y"]), n("MatMul", ["v", "w"], ["z"])], {"x": (2, 1, 3, 4), "w": (3, 4, 5), "v": (4,)}, {}, ["y", "z"]),
        ("gemm_transposed", 13, [n("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1, alpha=0.5, beta=2.0)], {"a": (4, 3), "b": (2, 4), "c": (1, 2)}, {}, ["y"]),
        ("gemm_op9", 9, [n("Gemm", ["a", "b", "c"], ["y"])], {"a": (3, 4), "b": (4, 2), "c": (2,)}, {}, ["y"]),
        ("constants", 13, [n("Constant", [], ["f"], value_float=1.5), n("Constant", [], ["fs"], value_floats=[1.0, -2.0, 3.0]),
                           n("Constant", [], ["i"], value_ints=[3, 2]), n("Constant", [], ["one"], value_int=1),
                           n("Add", ["x", "f"], ["a"]), n("Mul", ["a", "fs"], ["b"]), n("Reshape", ["b", "i"], ["y"]), n("Add", ["i", "one"], ["z"])],
         {"x": (2, 3)}, {}, ["y", "z"]),
        ("activations", 13, [n("Tanh", ["x"], ["y"]), n("Relu", ["x"], ["z"]), n("Sigmoid", ["x"], ["w"])], {"x": (2, 3)}, {}, ["y", "z", "w"]),
    ]


def make_operator_fixtures() -> None:
    from onnx import helper as h, numpy_helper
    folder = OUT / "ops"
    folder.mkdir()
    for name, opset, nodes, inputs, constants, outputs in operator_cases():
        if name == "cast_float_int_float":
            constants = {"k": np.array(3.0, dtype=np.float32)}
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        feeds = {k: rng.uniform(-2, 2, shape).astype(np.float32) for k, shape in inputs.items()}
        graph = h.make_graph(nodes, name, [h.make_tensor_value_info(k, 1, None) for k in inputs],
                             [h.make_empty_tensor_value_info(o) for o in outputs],
                             [numpy_helper.from_array(v, k) for k, v in constants.items()])
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], producer_name="make_torch_onnx_fixtures.py")
        model.ir_version = 8  # (onnx.checker wants output types; ONNX Runtime checks the graph as it loads it)
        path = folder / f"{name}.onnx"
        onnx.save(model, str(path))
        ran = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
        tensors = {f"feed.{k}": v for k, v in feeds.items()}
        tensors.update({f"expect.{o}": np.ascontiguousarray(v) for o, v in zip(outputs, ran)})
        save_file(tensors, str(folder / f"{name}.safetensors"), metadata={"opset": str(opset)})
        print(f"ops/{name}: opset {opset}, " + ", ".join(f"{o} {v.dtype}{list(v.shape)}" for o, v in zip(outputs, ran)))


def main() -> None:
    logging.disable(logging.WARNING)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    count = 0
    for kind in KINDS:
        for shape, (layers, bidirectional, bf, head, states, opset) in SHAPES.items():
            for exporter in ("ts", "dynamo"):
                unrolled = exporter == "dynamo" and kind.startswith("rnn")  # (see the docstring)
                name = f"{kind}_{shape}_{exporter}" + ("_unrolled" if unrolled else "")
                seed = zlib.crc32(name.encode())
                torch.manual_seed(seed)
                rng = np.random.default_rng(seed)
                model = Model(kind, layers, bidirectional, bf, head, states).eval()
                D = 2 if bidirectional else 1
                path = export(model, name, exporter, opset, layers, D)
                proto = onnx.load(str(path))
                onnx.checker.check_model(proto)
                steps = EXAMPLE_T if unrolled else T
                feeds = {"X": rng.uniform(-1, 1, (B, steps, I) if bf else (steps, B, I)).astype(np.float32)}
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
                if unrolled:  # PyTorch at T=7 too, which the graph cannot run but a converted model can
                    long = {"X": rng.uniform(-1, 1, (B, T, I) if bf else (T, B, I)).astype(np.float32)}
                    long.update({k: v for k, v in feeds.items() if k != "X"})
                    with torch.no_grad():
                        wanted = [t.numpy() for t in model(*(torch.from_numpy(v) for v in long.values()))]
                    tensors.update({f"other_length.feed.{k}": v for k, v in long.items()})
                    tensors.update({f"other_length.expect.{o}": np.ascontiguousarray(v) for o, v in zip(output_names, wanted)})
                ops = sorted({n.op_type for n in proto.graph.node})
                opset_used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
                if unrolled:
                    assert not {"RNN", "LSTM", "GRU"} & set(ops), ops
                    # What dynamo keeps dynamic: the batch only; the unrolling fixes the length.
                    dims = proto.graph.input[0].type.tensor_type.shape.dim
                    time_dim, batch_dim = (dims[1], dims[0]) if bf else (dims[0], dims[1])
                    assert time_dim.dim_value == EXAMPLE_T and batch_dim.dim_param, (name, dims)
                metadata = {"unrolled": str(unrolled).lower(), "kind": kind, "layers": str(layers), "bidirectional": str(bidirectional).lower(),
                            "batch_first": str(bf).lower(), "head": head, "exporter": exporter, "opset": str(opset_used),
                            "operators": ",".join(ops)}
                save_file(tensors, str(OUT / f"{name}.safetensors"), metadata=metadata)
                count += 1
                print(f"{name}: opset {opset_used}, {len(proto.graph.node)} nodes ({', '.join(ops)}); ORT vs PyTorch max |diff| {worst:.2e}")
    make_operator_fixtures()
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{count} cases, {size / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
