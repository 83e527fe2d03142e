#!/usr/bin/env python3
"""Side-by-side timings: Recurrent vs PyTorch vs ONNX Runtime on the same CPU.

Usage (from the repository root, after `swift build -c release`):

    python3 -m pip install -r Benchmarks/requirements.txt
    python3 Benchmarks/compare.py [--threads 2] [--rounds 3] [--repeat 10] [--min-ms 200] [--only NAME,...] [--markdown OUT.md]

Each measurement runs in a fresh process (so peak memory is per configuration) and the three
engines are interleaved round by round, so machine noise hits all alike. Reported: min and
median milliseconds over all repeats of all rounds, each peer's min divided by ours (> 1 means
Recurrent is faster), our GFLOP/s as a share of the machine's matrix-product rate (the best
2048³ product of MKL, MLAS and ours) and of its FMA ceiling (`recurrent bench --mode peak`), and
peak resident memory for training runs.

Forward: PyTorch under torch.inference_mode(); ONNX Runtime runs an equivalent ONNX graph
(LSTM/GRU/RNN nodes built with onnx.helper, intra_op_num_threads equal to ours). Training:
forward + backward of output.sum() with all weight gradients (PyTorch only; ONNX Runtime has no
training here).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SUITE = [
    # name, cell, I, H, B, T, layers, dirs, modes
    ("seed-mnist", "lstm", 28, 64, 50, 28, 1, 1, ["forward", "train"]),
    ("latency-128", "lstm", 64, 128, 1, 100, 1, 1, ["forward"]),
    ("latency-256", "lstm", 256, 256, 1, 150, 1, 1, ["forward"]),
    ("deepbench-512", "lstm", 512, 512, 1, 25, 1, 1, ["forward"]),
    ("deepbench-1024", "lstm", 1024, 1024, 1, 25, 1, 1, ["forward"]),
    ("two-layer-200", "lstm", 250, 200, 1, 15, 2, 1, ["forward"]),
    ("medium", "lstm", 256, 256, 64, 100, 1, 1, ["forward", "train"]),
    ("large", "lstm", 512, 512, 64, 50, 1, 1, ["forward", "train"]),
    ("train-1024", "lstm", 1024, 1024, 64, 25, 1, 1, ["train"]),
    ("gru", "gru", 512, 512, 32, 100, 1, 1, ["forward", "train"]),
    ("rnn", "rnn-tanh", 256, 256, 64, 100, 1, 1, ["forward", "train"]),
    ("bi-2", "lstm", 256, 256, 16, 100, 2, 2, ["forward", "train"]),
    ("deep-4", "lstm", 512, 512, 64, 100, 4, 1, ["forward"]),
]

BINARY = os.path.join(".build", "release", "recurrent")
# What the peers need (Benchmarks/requirements.txt); checked before anything runs.
PEER_MODULES = ("torch", "onnxruntime", "onnx", "numpy")


class Failure(Exception):
    """A run that cannot go on: main prints its message as one line and exits with status 1."""


def last_json(argv):
    """Runs argv and parses the JSON object on the last line of its output."""
    done = subprocess.run(argv, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Failure(f"`{' '.join(argv[:4])} …` failed (exit status {done.returncode}): {said}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise Failure(f"`{' '.join(argv[:4])} …` did not end with a JSON line: {lines[-1][:120]}")


PROBE = """
import importlib, json, sys
missing = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:  # not installed, or broken
        missing.append(name)
print(json.dumps(missing))
"""


def missing_modules():
    """The peers' Python packages that do not import here (tried in a fresh interpreter)."""
    return last_json([sys.executable, "-c", PROBE, *PEER_MODULES])


def write_atomically(path, text):
    """Writes text to path through a temporary file in the same folder and a rename, so that an
    interrupted run never leaves a half-written table (an earlier one stays whole)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".compare-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it (mkstemp makes 0600)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def ours(cfg, mode, threads, repeat):
    name, cell, i, h, b, t, layers, dirs, _ = cfg
    args = [BINARY, "bench", "--mode", cell, "--input-size", str(i), "--hidden-size", str(h), "--batch", str(b),
            "--seq-len", str(t), "--layers", str(layers), "--threads", str(threads), "--repeat", str(repeat), "--json",
            "--times"]
    if dirs == 2:
        args.append("--bidirectional")
    if mode == "train":
        args.append("--train")
    return last_json(args)


def peer(engine, cfg, mode, threads, repeat):
    return last_json([sys.executable, __file__, "--worker", engine, cfg[0], mode, str(threads), str(repeat)])


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_calls(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def torch_worker(cfg, mode, threads, repeat):
    import torch
    torch.set_num_threads(threads)
    name, cell, i, h, b, t, layers, dirs, _ = cfg
    torch.manual_seed(0)
    if cell == "lstm":
        m = torch.nn.LSTM(i, h, layers, bidirectional=dirs == 2)
    elif cell == "gru":
        m = torch.nn.GRU(i, h, layers, bidirectional=dirs == 2)
    else:
        m = torch.nn.RNN(i, h, layers, nonlinearity="tanh" if cell == "rnn-tanh" else "relu", bidirectional=dirs == 2)
    x = torch.randn(t, b, i)
    if mode == "forward":
        m.eval()

        def run():
            with torch.inference_mode():
                m(x)
    else:
        def run():
            m.zero_grad(set_to_none=True)
            m(x)[0].sum().backward()
    times = time_calls(run, repeat)
    return {"times": times, "peak_rss_mb": peak_rss_mb(), "version": torch.__version__}


def onnx_model(cfg):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    name, cell, i, h, b, t, layers, dirs, _ = cfg
    op, gates = {"lstm": ("LSTM", 4), "gru": ("GRU", 3)}.get(cell, ("RNN", 1))
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    current, size = "x", i
    direction = "bidirectional" if dirs == 2 else "forward"
    for l in range(layers):
        w = rng.uniform(-0.1, 0.1, (dirs, gates * h, size)).astype(np.float32)
        r = rng.uniform(-0.1, 0.1, (dirs, gates * h, h)).astype(np.float32)
        bias = rng.uniform(-0.1, 0.1, (dirs, 2 * gates * h)).astype(np.float32)
        inits += [helper.make_tensor(f"W{l}", TensorProto.FLOAT, w.shape, w.flatten()),
                  helper.make_tensor(f"R{l}", TensorProto.FLOAT, r.shape, r.flatten()),
                  helper.make_tensor(f"B{l}", TensorProto.FLOAT, bias.shape, bias.flatten())]
        attrs = {"hidden_size": h, "direction": direction}
        if op == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch's GRU form
        if op == "RNN":
            attrs["activations"] = ["Tanh"]
        nodes.append(helper.make_node(op, [current, f"W{l}", f"R{l}", f"B{l}"], [f"Y{l}"], **attrs))
        # Y: [T, D, B, H] -> [T, B, D*H] for the next layer.
        nodes.append(helper.make_node("Transpose", [f"Y{l}"], [f"YT{l}"], perm=[0, 2, 1, 3]))
        shape = helper.make_tensor(f"S{l}", TensorProto.INT64, [3], [t, b, dirs * h])
        inits.append(shape)
        nodes.append(helper.make_node("Reshape", [f"YT{l}", f"S{l}"], [f"X{l + 1}"]))
        current, size = f"X{l + 1}", dirs * h
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [t, b, i])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, [t, b, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def matmul_worker(engine, threads, size=2048, repeat=10):
    """A peer's single-precision matrix-product rate (PyTorch: MKL; ONNX Runtime: MLAS), size³."""
    if engine == "torch":
        import torch
        torch.set_num_threads(threads)
        a, b = torch.randn(size, size), torch.randn(size, size)
        times = time_calls(lambda: a @ b, repeat)
    else:
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
        rng = np.random.default_rng(1)
        b = numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32), "b")
        graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                                  [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])],
                                  [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])], [b])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        a = rng.standard_normal((size, size)).astype(np.float32)
        times = time_calls(lambda: session.run(None, {"a": a}), repeat)
    return {"gflops": 2 * size ** 3 / (min(times) / 1e3) / 1e9}


def ort_worker(cfg, mode, threads, repeat):
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_model(cfg), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((cfg[5], cfg[4], cfg[2])).astype(np.float32)
    times = time_calls(lambda: session.run(None, {"x": x}), repeat)
    return {"times": times, "peak_rss_mb": peak_rss_mb(), "version": ort.__version__}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (and exit status 2), not usage and error."""

    def error(self, message):
        self.exit(2, f"compare.py: {message} (see --help)\n")


def parse_arguments(argv):
    def positive(kind):
        def parse(text):
            value = kind(text)
            if value <= 0:
                raise argparse.ArgumentTypeError(f"must be positive, got {text}")
            return value
        parse.__name__ = kind.__name__
        return parse

    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=positive(int), default=2)
    parser.add_argument("--rounds", type=positive(int), default=3)
    parser.add_argument("--repeat", type=positive(int), default=10)
    parser.add_argument("--min-ms", type=positive(float), default=200,
                        help="raise the repeats of fast configurations so that each engine's timed calls per round "
                             "add up to about this many milliseconds (at most 2000 repeats)")
    parser.add_argument("--only", default="", help="comma-separated configuration names (default: the whole suite)")
    parser.add_argument("--markdown", help="also write the table to this file (replaced whole at the end)")
    args = parser.parse_args(argv)
    names = [cfg[0] for cfg in SUITE]
    args.only = set(filter(None, args.only.split(",")))
    unknown = sorted(args.only - set(names))
    if unknown:
        parser.error(f"unknown configuration {', '.join(unknown)} in --only; the suite has {', '.join(names)}")
    if args.markdown and not os.path.isdir(os.path.dirname(os.path.abspath(args.markdown))):
        parser.error(f"--markdown {args.markdown}: its folder does not exist")
    return args


def run(args):
    missing = missing_modules()
    if missing:
        raise Failure(f"the peers need {', '.join(missing)}: python3 -m pip install -r Benchmarks/requirements.txt")
    if not os.path.exists(BINARY):
        raise Failure(f"{BINARY} not found: run `swift build -c release` in the repository root first")
    rates = reference_rates(args.threads)
    print(rate_line(rates, args.threads), flush=True)
    print(HEADER, flush=True)
    rows = []
    for cfg in SUITE:
        if args.only and cfg[0] not in args.only:
            continue
        for mode in cfg[8]:
            results = {"ours": [], "torch": [], "ort": []}
            extra = {}
            # Small configurations take well under a millisecond: more repeats make their minimum stable.
            estimate = ours(cfg, mode, args.threads, 3)["median_ms"]
            repeat = max(args.repeat, min(2000, int(args.min_ms / max(estimate, 1e-3))))
            for _ in range(args.rounds):
                r = ours(cfg, mode, args.threads, repeat)
                results["ours"] += r["times"]
                extra["gflop"] = r["gflop"]
                extra["ours_rss"] = max(extra.get("ours_rss", 0), r["peak_rss_mb"])
                p = peer("torch", cfg, mode, args.threads, repeat)
                results["torch"] += p["times"]
                extra["torch_rss"] = max(extra.get("torch_rss", 0), p["peak_rss_mb"])
                if mode == "forward":
                    results["ort"] += peer("ort", cfg, mode, args.threads, repeat)["times"]
            row = {"name": cfg[0], "mode": mode}
            for engine, times in results.items():
                if times:
                    row[engine] = (min(times), statistics.median(times))
            row["gflops"] = extra["gflop"] / (row["ours"][0] / 1e3)
            set_shares(row, rates)
            row["torch_ratio"] = row["torch"][0] / row["ours"][0]
            if "ort" in row:
                row["ort_ratio"] = row["ort"][0] / row["ours"][0]
            if mode == "train":
                row["rss"] = (extra["ours_rss"], extra["torch_rss"])
            rows.append(row)
            print(format_row(row), flush=True)
    # Measured again after the suite: noise from other tenants only ever slows a run down, so the
    # better of the two measurements of each rate is kept, and the shares recomputed with it.
    rates = {k: max(v, w) for (k, v), w in zip(rates.items(), reference_rates(args.threads).values())}
    for row in rows:
        set_shares(row, rates)
    table = "\n".join([rate_line(rates, args.threads), "", HEADER] + [format_row(r) for r in rows])
    if args.markdown:
        write_atomically(args.markdown, table + "\n")


def reference_rates(threads):
    """The machine's matrix-product rate (the best 2048³ product of MKL, MLAS and ours, same threads)
    and its FMA ceiling (`recurrent bench --mode peak`), in GFLOP/s."""
    mkl, mlas = (last_json([sys.executable, __file__, "--matmul-worker", engine, str(threads)])["gflops"]
                 for engine in ("torch", "ort"))
    flags = ["--threads", str(threads), "--json"]
    own = last_json([BINARY, "bench", "--mode", "matmul", "--batch", "2048", "--input-size", "2048", "--hidden-size",
                     "2048", "--repeat", "10"] + flags)["gflops"]
    peak = last_json([BINARY, "bench", "--mode", "peak", "--repeat", "10"] + flags)["gflops"]
    return {"mkl": mkl, "mlas": mlas, "own": own, "peak": peak}


def rate_line(rates, threads):
    machine = max(rates["mkl"], rates["mlas"], rates["own"])
    return (f"Matrix-product rate, 2048³ single precision, {threads} threads: PyTorch (MKL) {rates['mkl']:.0f} GFLOP/s, "
            f"ONNX Runtime (MLAS) {rates['mlas']:.0f} GFLOP/s, Recurrent {rates['own']:.0f} GFLOP/s. The machine's rate is "
            f"the highest of the three, {machine:.0f} GFLOP/s; \"% of product rate\" is ours GFLOP/s ÷ that. The FMA "
            f"ceiling (register-only fused multiply-adds on every thread, `recurrent bench --mode peak`) is "
            f"{rates['peak']:.0f} GFLOP/s: no engine's product can exceed it. Each rate is the better of two "
            f"measurements, before and after the suite.")


def set_shares(row, rates):
    row["rate"] = row["gflops"] / max(rates["mkl"], rates["mlas"], rates["own"])
    row["ceiling"] = row["gflops"] / rates["peak"]


HEADER = ("| config | mode | Recurrent ms (min / median) | PyTorch ms | ONNX Runtime ms | PyTorch ÷ ours | ORT ÷ ours "
          "| ours GFLOP/s | % of product rate | % of FMA ceiling | peak RSS MB (ours / PyTorch) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def format_row(r):
    def ms(key):
        return f"{r[key][0]:.2f} / {r[key][1]:.2f}" if key in r else "—"
    ort_ratio = f"{r['ort_ratio']:.2f}×" if "ort_ratio" in r else "—"
    rss = f"{r['rss'][0]:.0f} / {r['rss'][1]:.0f}" if "rss" in r else "—"
    return (f"| {r['name']} | {r['mode']} | {ms('ours')} | {ms('torch')} | {ms('ort')} | {r['torch_ratio']:.2f}× "
            f"| {ort_ratio} | {r['gflops']:.1f} | {100 * r['rate']:.0f}% | {100 * r['ceiling']:.0f}% | {rss} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--matmul-worker":
        print(json.dumps(matmul_worker(sys.argv[2], int(sys.argv[3]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        engine, name, mode, threads, repeat = sys.argv[2:7]
        cfg = next(c for c in SUITE if c[0] == name)
        fn = torch_worker if engine == "torch" else ort_worker
        print(json.dumps(fn(cfg, mode, int(threads), int(repeat))))
        return
    args = parse_arguments(sys.argv[1:])
    try:
        run(args)
    except Failure as failure:
        sys.exit(f"compare.py: {failure}")


if __name__ == "__main__":
    main()
