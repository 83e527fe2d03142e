#!/usr/bin/env python3
"""Conv2d, RAFT's SepConvGRU step and a ConvLSTM layer against PyTorch, forward and training.

Usage (from the repository root, after `swift build -c release`):

    python3 Benchmarks/conv.py [--threads 2] [--rounds 5] [--repeat 5] [--only conv3x3_b1,...] [--markdown OUT.md]

Every case runs `recurrent bench --conv ...` and the same work in PyTorch (torch 2.15.0,
`torch.set_num_threads` to the same count, the modules of Tools/make_conv_fixtures.py: nn.Conv2d,
RAFT's SepConvGRU, ndrplz's ConvLSTM), each in a fresh process, alternating round by round so
that machine noise hits both alike. Each process warms up once and reports its fastest of
--repeat runs; reported are the medians over rounds and the median of the per-round ratios
PyTorch / ours (above 1: we are faster). Training is forward + backward of the summed output
with gradients for the parameters and the inputs (the state too), as inside RAFT.

Shapes (issue 29): RAFT's update block, hidden 128, input 192 + 128, a 55x128 map (a 440x1024
frame at 1/8): the convolution over [h, x] (448 -> 128 channels) with 3x3, 1x5 and 5x1 kernels,
batch 1 and 4, and one SepConvGRU step; a ConvLSTM layer of hidden 64 over 10 frames of 64x64,
batch 8, one input channel, 3x3 kernel.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BINARY = os.path.join(".build", "release", "recurrent")
# name, what, kernel, input channels, hidden (output) channels, batch, H, W, T
CASES = [
    ("conv3x3_b1", "conv", "3x3", 448, 128, 1, 55, 128, 1),
    ("conv3x3_b4", "conv", "3x3", 448, 128, 4, 55, 128, 1),
    ("conv1x5_b1", "conv", "1x5", 448, 128, 1, 55, 128, 1),
    ("conv1x5_b4", "conv", "1x5", 448, 128, 4, 55, 128, 1),
    ("conv5x1_b1", "conv", "5x1", 448, 128, 1, 55, 128, 1),
    ("conv5x1_b4", "conv", "5x1", 448, 128, 4, 55, 128, 1),
    ("sepconvgru_b1", "sepconvgru", "3x3", 320, 128, 1, 55, 128, 1),
    ("sepconvgru_b4", "sepconvgru", "3x3", 320, 128, 4, 55, 128, 1),
    ("convlstm_b8", "convlstm", "3x3", 1, 64, 8, 64, 64, 10),
]


def torch_one(case, train, threads, repeat):
    """Times one case in this process with PyTorch; returns the fastest run in milliseconds."""
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tools"))
    from make_conv_fixtures import ConvLSTMCell, SepConvGRU, ConvGRU, SequenceLayer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    _, what, kernel, ci, c, b, h, w, t = case
    kh, kw = map(int, kernel.split("x"))
    if what == "conv":
        module = torch.nn.Conv2d(ci, c, (kh, kw), padding="same")
        x = torch.randn(b, ci, h, w, requires_grad=True)
        work = lambda: module(x)
    elif what in ("sepconvgru", "convgru"):
        module = (SepConvGRU if what == "sepconvgru" else ConvGRU)(hidden_dim=c, input_dim=ci)
        hs, x = torch.randn(b, c, h, w, requires_grad=True), torch.randn(b, ci, h, w, requires_grad=True)
        work = lambda: module(hs, x)
    else:
        module = SequenceLayer([ConvLSTMCell(ci, c, (kh, kw), True)], batch_first=False)
        x = torch.randn(t, b, ci, h, w, requires_grad=True)
        zeros = (torch.zeros(b, c, h, w), torch.zeros(b, c, h, w))
        work = lambda: module(x, [zeros])[0]

    def once():
        if train:
            module.zero_grad(set_to_none=True)
            work().sum().backward()
        else:
            with torch.no_grad():
                work()

    once()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        once()
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best


def ours(case, train, threads, repeat):
    _, what, kernel, ci, c, b, h, w, t = case
    argv = [BINARY, "bench", "--conv", what, "--kernel", kernel, "--input-size", str(ci), "--hidden-size", str(c),
            "--batch", str(b), "--height", str(h), "--width", str(w), "--seq-len", str(t), "--threads", str(threads),
            "--repeat", str(repeat), "--json"] + (["--train"] if train else [])
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"conv.py: `{' '.join(argv)}` failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["min_ms"]


def theirs(case, train, threads, repeat):
    argv = [sys.executable, os.path.abspath(__file__), "--torch-one", case[0], "--threads", str(threads), "--repeat", str(repeat)]
    done = subprocess.run(argv + (["--train"] if train else []), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"conv.py: PyTorch run of {case[0]} failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return float(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--forward-only", action="store_true")
    parser.add_argument("--markdown")
    parser.add_argument("--torch-one", help=argparse.SUPPRESS)
    parser.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_one:
        case = next(c for c in CASES if c[0] == args.torch_one)
        print(f"{torch_one(case, args.train, args.threads, args.repeat):.4f}")
        return
    if not os.path.exists(BINARY):
        sys.exit(f"conv.py: {BINARY} is missing: run `swift build -c release` first")
    only = set(filter(None, args.only.split(",")))
    cases = [c for c in CASES if not only or c[0] in only]
    rows = []
    for case in cases:
        for train in ([False] if args.forward_only else [False, True]):
            mine, torch_ms = [], []
            for _ in range(args.rounds):
                mine.append(ours(case, train, args.threads, args.repeat))
                torch_ms.append(theirs(case, train, args.threads, args.repeat))
            ratio = statistics.median(t / m for t, m in zip(torch_ms, mine))
            row = (case[0], "train" if train else "forward", statistics.median(mine), statistics.median(torch_ms), ratio)
            rows.append(row)
            print(f"{row[0]:<16} {row[1]:<8} ours {row[2]:9.2f} ms  PyTorch {row[3]:9.2f} ms  PyTorch/ours {row[4]:.2f}", flush=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| case | pass | ours (ms) | PyTorch (ms) | PyTorch / ours |\n|---|---|---:|---:|---:|\n")
            for r in rows:
                f.write(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} |\n")


if __name__ == "__main__":
    main()
