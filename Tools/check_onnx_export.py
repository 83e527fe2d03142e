#!/usr/bin/env python3
"""Export a grid of Recurrent models to ONNX and run them in ONNX Runtime against Swift (by hand).

    swift build --product recurrent
    python3 Tools/check_onnx_export.py [--recurrent .build/debug/recurrent] [--keep DIR] [--only TEXT]

Pinned: onnx 1.23.2, onnxruntime 1.32.0, numpy 2.x, safetensors 0.8.0 (no PyTorch).

For each case of the grid (RNN tanh / relu / ONNX activations, GRU both forms, LSTM with
peepholes and coupled gate, ONNX's activations with α and β per direction and `clip`; 1–3
layers, one or two directions, batch-first or not, no head / a head at every step / on the last
step, with or without initial states, feature, embedding or one-hot input) the script:

1. writes a model file (random weights, Recurrent's `__metadata__`) with numpy and safetensors;
2. `recurrent export MODEL --output MODEL.onnx [--initial-states]`;
3. checks the graph: `onnx.checker.check_model(full_check=True)`, PyTorch's input and output
   names, `T` and `N` symbolic, only the operators the Swift interpreter runs;
4. for two input shapes (T, N) = (9, 7) and (2, 1), none of them a size fixed in the graph:
   `recurrent run` (Swift's outputs) and ONNX Runtime (one thread) on the same input and initial
   states; every output (`output`, `h_n`, `c_n`, `prediction`) within 1e-5 relative (1e-6
   absolute) of Swift's.

Models ONNX cannot express (projection, layer norm) must be refused by `recurrent export` with a
one-line error and no file. Prints a table; exits non-zero on any failure. The grid and the
metadata are plain Python (tested by Benchmarks/test_check_onnx_export.py without numpy or ORT).
"""
import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile

# The operators RecurrentONNX's graph interpreter runs (besides the recurrent ones).
ALLOWED_OPS = {"LSTM", "GRU", "RNN", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Concat", "Slice", "Gather",
               "Shape", "MatMul", "Add", "Gemm", "Identity"}
SHAPES = [(9, 7), (2, 1)]  # (T, N) fed to each model
I, H, OUT, VOCAB = 4, 3, 2, 6  # input size, hidden size, head outputs, embedding rows
TAKES_ALPHA = {"Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu"}
TAKES_BETA = {"Affine", "ScaledTanh", "HardSigmoid"}


@dataclasses.dataclass
class Case:
    """One model of the grid (activations as (ONNX name, alpha, beta))."""
    variant: str
    kind: str
    layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    head: str = ""  # "", "every_step" or "last_step"
    initial_states: bool = False
    encoding: str = "features"  # features, embedding or one_hot
    nonlinearity: str = "tanh"
    bias: bool = True
    head_bias: bool = True
    peephole: bool = False
    input_forget: bool = False
    reset_after: bool = True
    layer_norm: bool = False
    proj_size: int = 0
    clip: float = 0.0
    activations: tuple = ()
    reverse_activations: tuple = ()

    @property
    def name(self):
        parts = [self.variant, f"l{self.layers}", "bi" if self.bidirectional else "uni"]
        parts += ["bf"] * self.batch_first + [{"every_step": "head", "last_step": "last"}.get(self.head, "")]
        parts += ["h0"] * self.initial_states + ([self.encoding] if self.encoding != "features" else [])
        return "_".join(p for p in parts if p)

    @property
    def refused(self):
        return self.proj_size > 0 or self.layer_norm

    @property
    def gates(self):
        return {"lstm": 4, "gru": 3, "rnn": 1}[self.kind]

    @property
    def input_size(self):
        return I


VARIANTS = [
    Case("rnn_tanh", "rnn"),
    Case("rnn_relu", "rnn", nonlinearity="relu"),
    Case("rnn_acts", "rnn", activations=(("LeakyRelu", 0.2, 0),), reverse_activations=(("Affine", 0.8, 0.1),), clip=2.5),
    Case("rnn_acts2", "rnn", activations=(("ThresholdedRelu", 0.1, 0),), reverse_activations=(("Softplus", 0, 0),)),
    Case("gru", "gru"),
    Case("gru_reset_before", "gru", reset_after=False),
    Case("gru_acts_clip", "gru", reset_after=False, clip=0.9,
         activations=(("HardSigmoid", 0.3, 0.4), ("ScaledTanh", 0.9, 1.1)), reverse_activations=(("Sigmoid", 0, 0), ("Elu", 0.7, 0))),
    Case("lstm", "lstm"),
    Case("lstm_peephole", "lstm", peephole=True),
    Case("lstm_coupled_nobias", "lstm", input_forget=True, bias=False),
    Case("lstm_peephole_coupled", "lstm", peephole=True, input_forget=True),
    Case("lstm_acts_clip", "lstm", clip=0.7,
         activations=(("HardSigmoid", 0.3, 0.4), ("ScaledTanh", 0.9, 1.1), ("Softsign", 0, 0)),
         reverse_activations=(("Sigmoid", 0, 0), ("Elu", 0.7, 0), ("Affine", 0.8, 0.1))),
]
STRUCTURES = [(bf, head, h0) for bf in (False, True) for head in ("", "every_step", "last_step") for h0 in (False, True)]


def grid():
    """Every variant at 1–3 layers × 1–2 directions, the 12 (batch-first, head, initial states)
    structures rotated over them; every structure for the standard LSTM and GRU; token input;
    a head without bias; and the two refusals."""
    cases, seen = [], set()

    def add(c):
        if c.name not in seen:
            seen.add(c.name)
            cases.append(c)

    for v, variant in enumerate(VARIANTS):
        for k, (layers, bi) in enumerate((l, b) for l in (1, 2, 3) for b in (False, True)):
            bf, head, h0 = STRUCTURES[(v * 5 + k) % len(STRUCTURES)]
            add(dataclasses.replace(variant, layers=layers, bidirectional=bi, batch_first=bf, head=head, initial_states=h0))
    for variant in (VARIANTS[4], VARIANTS[7]):  # gru, lstm: every structure
        for layers in (1, 2, 3):
            for bi in (False, True):
                for bf, head, h0 in STRUCTURES:
                    add(dataclasses.replace(variant, layers=layers, bidirectional=bi, batch_first=bf, head=head, initial_states=h0))
    for encoding in ("embedding", "one_hot"):
        for bf, head, bi in ((False, "every_step", False), (True, "last_step", True), (True, "", False)):
            add(dataclasses.replace(VARIANTS[7], layers=2, bidirectional=bi, batch_first=bf, head=head, encoding=encoding))
    add(dataclasses.replace(VARIANTS[5], variant="gru_head_nobias", layers=2, head="every_step", head_bias=False))
    add(dataclasses.replace(VARIANTS[5], variant="gru_last_nobias", layers=1, bidirectional=True, head="last_step", head_bias=False))
    add(dataclasses.replace(VARIANTS[7], variant="lstm_proj", proj_size=2))
    add(dataclasses.replace(VARIANTS[4], variant="gru_layer_norm", layer_norm=True))
    return cases


def metadata(c):
    """Recurrent's `__metadata__` for the case (see ModelArchitecture.metadata)."""
    m = {"format": "recurrent", "kind": c.kind, "input_size": str(c.input_size), "hidden_size": str(H),
         "num_layers": str(c.layers), "bidirectional": str(c.bidirectional).lower(), "bias": str(c.bias).lower(),
         "proj_size": str(c.proj_size), "batch_first": str(c.batch_first).lower(), "prefix": "rnn."}
    if c.kind == "rnn":
        m["nonlinearity"] = c.nonlinearity
    if c.head:
        m.update(head_prefix="fc.", head_output_size=str(OUT), head_bias=str(c.head_bias).lower(), head_placement=c.head)
    if c.encoding == "embedding":
        m.update(input="embedding", embedding_prefix="embedding.", embedding_count=str(VOCAB))
    elif c.encoding == "one_hot":
        m["input"] = "one_hot"
    if c.peephole:
        m["peephole"] = "true"
    if c.input_forget:
        m["input_forget"] = "true"
    if c.layer_norm:
        m["layer_norm"] = "true"
    if not c.reset_after:
        m["reset_after"] = "false"
    if c.clip:
        m["clip"] = str(c.clip)
    if c.activations:
        acts = list(c.activations) + (list(c.reverse_activations or c.activations) if c.bidirectional else [])
        m["activations"] = ",".join(a[0] for a in acts)
        m["activation_alpha"] = ",".join(str(float(a[1])) for a in acts)
        m["activation_beta"] = ",".join(str(float(a[2])) for a in acts)
    return m


def parameter_shapes(c):
    """The model file's tensors: (name, shape), PyTorch's names under the case's prefixes."""
    shapes = []
    if c.encoding == "embedding":
        shapes.append(("embedding.weight", (VOCAB, c.input_size)))
    D, G = 2 if c.bidirectional else 1, c.gates * H
    hout = c.proj_size or H
    for layer in range(c.layers):
        for d in range(D):
            s = f"_l{layer}" + ("_reverse" if d else "")
            shapes += [(f"rnn.weight_ih{s}", (G, c.input_size if layer == 0 else D * hout)), (f"rnn.weight_hh{s}", (G, hout))]
            if c.bias:
                shapes += [(f"rnn.bias_ih{s}", (G,)), (f"rnn.bias_hh{s}", (G,))]
            if c.peephole:
                shapes.append((f"rnn.weight_peephole{s}", (3 * H,)))
            if c.proj_size:
                shapes.append((f"rnn.weight_hr{s}", (c.proj_size, H)))
            if c.layer_norm:
                shapes += [(f"rnn.ln_weight_ih{s}", (G,)), (f"rnn.ln_weight_hh{s}", (G,))]
                if c.kind == "lstm":
                    shapes += [(f"rnn.ln_weight_c{s}", (H,)), (f"rnn.ln_bias_c{s}", (H,))]
    if c.head:
        shapes.append(("fc.weight", (OUT, D * hout)))
        if c.head_bias:
            shapes.append(("fc.bias", (OUT,)))
    return shapes


def row(name, result, detail):
    return f"| {name:<44} | {result:<7} | {detail} |"


def load_dependencies():
    """numpy, onnx, onnxruntime and safetensors, or a one-line reason they cannot be used."""
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        from safetensors.numpy import load_file, save_file
    except ImportError as e:
        raise SystemExit(f"check_onnx_export.py needs numpy, onnx, onnxruntime and safetensors (pip install -r Tools/requirements.txt): {e}")
    return np, onnx, ort, load_file, save_file


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recurrent", default=".build/debug/recurrent", help="the recurrent binary (default %(default)s)")
    p.add_argument("--keep", help="write the models, inputs and outputs here (default: a temporary folder)")
    p.add_argument("--only", help="run only the cases whose name contains this text")
    args = p.parse_args(argv)
    if not os.access(args.recurrent, os.X_OK):
        raise SystemExit(f"no recurrent binary at {args.recurrent} (build it: swift build --product recurrent)")
    cases = [c for c in grid() if not args.only or args.only in c.name]
    if not cases:
        raise SystemExit(f"no case name contains {args.only!r}")
    np, onnx, ort, load_file, save_file = load_dependencies()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        return check(cases, args.recurrent, args.keep, np, onnx, ort, load_file, save_file)
    with tempfile.TemporaryDirectory() as folder:
        return check(cases, args.recurrent, folder, np, onnx, ort, load_file, save_file)


def check(cases, recurrent, folder, np, onnx, ort, load_file, save_file):
    print(row("case", "result", "graph nodes; max |ORT − Swift| over both shapes (or the failure)"))
    print(row("-" * 44, "-" * 7, "---"))
    failures = 0
    for index, c in enumerate(cases):
        try:
            ok, detail = check_case(c, index, recurrent, os.path.join(folder, c.name), np, onnx, ort, load_file, save_file)
        except Exception as e:  # a crash in one case is that case's failure, the rest still run
            ok, detail = False, f"{type(e).__name__}: {e}".replace("\n", " ")[:300]
        failures += not ok
        print(row(c.name, "ok" if ok else "FAILED", detail), flush=True)
    refused = sum(c.refused for c in cases)
    print(f"{len(cases)} cases ({len(cases) - refused} exported and run at (T, N) = {SHAPES}, {refused} refused), "
          f"{failures} failed (onnx {onnx.__version__}, onnxruntime {ort.__version__})")
    return 1 if failures else 0


def cli(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def check_case(c, index, recurrent, stem, np, onnx, ort, load_file, save_file):
    rng = np.random.default_rng(1000 + index)
    tensors = {n: rng.uniform(-0.6, 0.6, s).astype(np.float32) for n, s in parameter_shapes(c)}
    if c.encoding == "embedding":
        tensors["embedding.weight"] = rng.normal(size=(VOCAB, c.input_size)).astype(np.float32)
    save_file(tensors, stem + ".safetensors", metadata=metadata(c))
    export = [recurrent, "export", stem + ".safetensors", "--output", stem + ".onnx"] + ["--initial-states"] * c.initial_states
    rc, out, err = cli(*export)
    if c.refused:
        good = rc != 0 and err.startswith("Error: cannot export:") and "\n" not in err and not os.path.exists(stem + ".onnx")
        return good, err if good else f"not refused as it should be: rc {rc}, {out!r} {err!r}"
    if rc != 0:
        return False, f"export failed: {err}"
    model = onnx.load(stem + ".onnx")
    onnx.checker.check_model(model, full_check=True)
    g = model.graph
    ops = [n.op_type for n in g.node]
    if set(ops) - ALLOWED_OPS:
        return False, f"operators outside the interpreter's set: {sorted(set(ops) - ALLOWED_OPS)}"
    want_in = ["input"] + (["h0"] + ["c0"] * (c.kind == "lstm")) * c.initial_states
    want_out = ["output", "h_n"] + ["c_n"] * (c.kind == "lstm") + ["prediction"] * bool(c.head)
    if [v.name for v in g.input] != want_in or [v.name for v in g.output] != want_out:
        return False, f"graph inputs {[v.name for v in g.input]} / outputs {[v.name for v in g.output]}, expected {want_in} / {want_out}"
    for v in list(g.input) + list(g.output):
        dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        if "N" not in dims or (v.name in ("input", "output") or v.name == "prediction" and c.head == "every_step") and "T" not in dims:
            return False, f"{v.name} has dims {dims}: T and N must be symbolic"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    D = 2 if c.bidirectional else 1
    worst = 0.0
    for T, N in SHAPES:
        shape = (N, T) if c.batch_first else (T, N)
        if c.encoding == "features":
            x = rng.normal(size=shape + (c.input_size,)).astype(np.float32)
            feed = {"input": x}
        else:
            count = VOCAB if c.encoding == "embedding" else c.input_size
            tokens = rng.integers(0, count, size=shape)
            x = tokens.astype(np.float32)  # recurrent run reads indices stored as floats
            feed = {"input": tokens.astype(np.int64)}
        np.save(stem + ".input.npy", x)
        run = [recurrent, "run", stem + ".safetensors", "--input", stem + ".input.npy", "--output", stem + ".swift.safetensors"]
        if c.initial_states:
            for s in ["h0"] + ["c0"] * (c.kind == "lstm"):
                feed[s] = rng.normal(size=(D * c.layers, N, H)).astype(np.float32)
                np.save(f"{stem}.{s}.npy", feed[s])
                run += [f"--{s}", f"{stem}.{s}.npy"]
        rc, out, err = cli(*run)
        if rc != 0:
            return False, f"recurrent run failed at (T, N) = ({T}, {N}): {err}"
        swift = load_file(stem + ".swift.safetensors")
        got = dict(zip(want_out, sess.run(want_out, feed)))
        if set(swift) != set(got):
            return False, f"Swift gives {sorted(swift)}, ORT {sorted(got)}"
        for k in want_out:
            if got[k].shape != swift[k].shape:
                return False, f"{k} at (T, N) = ({T}, {N}): ORT {got[k].shape}, Swift {swift[k].shape}"
            diff = float(np.max(np.abs(got[k] - swift[k]))) if got[k].size else 0.0
            worst = max(worst, diff)
            if not np.allclose(got[k], swift[k], rtol=1e-5, atol=1e-6):
                return False, f"{k} at (T, N) = ({T}, {N}) differs: max |diff| {diff:.2e}"
    return True, f"{len(ops):>2} nodes; {worst:.2e}"


if __name__ == "__main__":
    sys.exit(main())
