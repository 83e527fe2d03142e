#!/usr/bin/env python3
"""The cell variants against the standard cell of the same size, forward and training.

Usage (from the repository root, after `swift build -c release`):

    python3 Benchmarks/variants.py [--threads 2] [--rounds 5] [--repeat 5] [--only medium,gru] [--markdown OUT.md]

For each shape of the benchmark suite named by the variants issue (`medium` and `large` LSTM, the
`gru` shape), every variant of that cell kind and the standard cell run `recurrent bench` in
fresh processes, interleaved round by round so that machine noise hits all alike. Reported: the
minimum milliseconds over all rounds and the ratio variant / standard (the targets: peephole,
coupled gate and reset-before GRU at most 1.15, layer norm at most 1.5). PyTorch has none of
these cells, so the comparison is with our own standard cell, which BENCHMARKS.md compares with
PyTorch and ONNX Runtime.
"""
import argparse
import json
import os
import subprocess
import sys

BINARY = os.path.join(".build", "release", "recurrent")
# name, mode, I, H, B, T: the suite's shapes (Benchmarks/compare.py)
SHAPES = [
    ("medium", "lstm", 256, 256, 64, 100),
    ("large", "lstm", 512, 512, 64, 50),
    ("gru", "gru", 512, 512, 32, 100),
]
VARIANTS = {
    "lstm": ["peephole", "coupled", "coupled-peephole", "layer-norm"],
    "gru": ["reset-before", "layer-norm"],
}
TARGETS = {"peephole": 1.15, "coupled": 1.15, "coupled-peephole": 1.15, "reset-before": 1.15, "layer-norm": 1.5}


def bench(shape, variant, train, threads, repeat):
    name, mode, i, h, b, t = shape
    argv = [BINARY, "bench", "--mode", mode, "--variant", variant, "--input-size", str(i), "--hidden-size", str(h),
            "--batch", str(b), "--seq-len", str(t), "--threads", str(threads), "--repeat", str(repeat), "--json"]
    if train:
        argv.append("--train")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"variants.py: `{' '.join(argv[:6])} …` failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["min_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"variants.py: {BINARY} is missing: run `swift build -c release` first")
    only = set(filter(None, args.only.split(",")))
    shapes = [s for s in SHAPES if not only or s[0] in only]
    best = {}
    for _ in range(args.rounds):
        for shape in shapes:
            for train in (False, True):
                for variant in ["standard"] + VARIANTS[shape[1]]:
                    key = (shape[0], variant, train)
                    ms = bench(shape, variant, train, args.threads, args.repeat)
                    best[key] = min(best.get(key, float("inf")), ms)
    lines = ["| shape | variant | forward ms | × standard | training ms | × standard | target |",
             "|---|---|---:|---:|---:|---:|---:|"]
    failed = []
    for shape in shapes:
        name = shape[0]
        for variant in ["standard"] + VARIANTS[shape[1]]:
            f, t = best[(name, variant, False)], best[(name, variant, True)]
            rf, rt = f / best[(name, "standard", False)], t / best[(name, "standard", True)]
            target = TARGETS.get(variant)
            if target and max(rf, rt) > target:
                failed.append(f"{name} {variant}")
            lines.append(f"| {name} | {variant} | {f:.2f} | {rf:.2f} | {t:.2f} | {rt:.2f} | "
                         f"{'≤ %.2f' % target if target else ''} |")
    table = "\n".join(lines)
    print(table)
    print(f"\nthreads {args.threads}, min of {args.rounds} rounds × {args.repeat} repeats; over target: "
          f"{', '.join(failed) if failed else 'none'}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
