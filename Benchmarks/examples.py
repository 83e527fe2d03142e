#!/usr/bin/env python3
"""The worked examples against their PyTorch programs: time per epoch, accuracy, characters/s.

Usage (from the repository root, after `swift build -c release`):

    python3 -m pip install -r Benchmarks/requirements.txt
    bible gen1:1-rev22:21 > /tmp/kjv.txt      # the character model's text (Debian's bible-kjv)
    python3 Benchmarks/examples.py [--seeds 0,1,2] [--only mnist|charlm] [--data DIR] [--text FILE]
        [--torch-threads 1,2] [--markdown OUT.md]

MNIST: for every seed, `Benchmarks/mnist_tutorial.py` (the PyTorch tutorial's row-by-row LSTM,
batch 50, Adam 1e-3, one epoch) and `recurrent mnist` with the same settings, each in a fresh
process. Character model: `Benchmarks/charlm_torch.py` and `recurrent charlm train` on the first
300000 characters of --text (windows of 25, batch 64, embedding 64, LSTM 256, Adam 2e-3, one epoch).

PyTorch runs once per thread count in --torch-threads (each a fresh process), and the faster run
of each seed is kept: on a 2-core machine its two-thread run can be several times slower than its
one-thread run. Recurrent runs with its default, every core.

Targets (means over the seeds):
    MNIST time per epoch       Recurrent ≤ 0.5 × PyTorch
    MNIST test accuracy        Recurrent ≥ PyTorch − 0.005 (the first 2000 test images)
    charlm characters/s        Recurrent ≥ 1.5 × PyTorch
The other rows (accuracy on all 10000 test images, validation bits per character) have no target.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import PROBE, write_atomically  # noqa: E402  (stdlib only; its main only runs as a script)

BINARY = os.path.join(".build", "release", "recurrent")
MNIST_TUTORIAL = os.path.join(HERE, "mnist_tutorial.py")
CHARLM_TORCH = os.path.join(HERE, "charlm_torch.py")
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
DEFAULT_TEXT = "/tmp/kjv.txt"
MNIST_ARGS = ["--epochs", "1", "--batch-size", "50", "--lr", "0.001", "--hidden-size", "64", "--cell", "lstm",
              "--eval-every", "0"]
CHARLM_SETTINGS = {"max-chars": 300000, "window": 25, "batch-size": 64, "embedding-size": 64, "hidden-size": 256,
                   "epochs": 1, "lr": 0.002}
CHARLM_OURS_ONLY = ["--layers", "1"]  # charlm_torch.py's model has one layer, always

# metric key, what the table calls it, the format of its values, the target (kind, amount) or None
#   ("speedup", k): PyTorch ÷ ours ≥ k (a time); ("rate", k): ours ÷ PyTorch ≥ k (a rate);
#   ("within", d): ours ≥ PyTorch − d
MNIST_METRICS = [
    ("epoch_seconds", "MNIST seconds per epoch", "{:.2f}", ("speedup", 2.0)),
    ("test_accuracy", "MNIST test accuracy (first 2000)", "{:.4f}", ("within", 0.005)),
    ("test_accuracy_full", "MNIST test accuracy (all 10000)", "{:.4f}", None),
]
CHARLM_METRICS = [
    ("chars_per_second", "charlm characters/s", "{:.0f}", ("rate", 1.5)),
    ("val_bits_per_char", "charlm validation bits/character", "{:.4f}", None),
]
# Which way is faster, for choosing PyTorch's thread count: the key and whether more is better.
SPEED = {"mnist": ("epoch_seconds", False), "charlm": ("chars_per_second", True)}

HEADER = "| metric | PyTorch | Recurrent | ratio | target | met? |\n|---|---|---|---|---|---|"


class Failure(Exception):
    """A run that cannot go on: main prints its message as one line and exits with status 1."""


# ---- the pure parts (tested in test_tools.py without PyTorch) ----

def json_last_line(stdout, what, kind=dict):
    """The JSON value (an object unless `kind` says otherwise) on the last non-empty line of a
    program's standard output."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise Failure(f"{what} printed nothing")
    try:
        value = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise Failure(f"{what} did not end with a JSON line: {lines[-1][:120]}")
    if not isinstance(value, kind):
        raise Failure(f"{what} ended with JSON that is not {'an object' if kind is dict else 'a ' + kind.__name__}: "
                      f"{lines[-1][:120]}")
    return value


def require(result, keys, what):
    """The result, after checking that it holds every key as a finite number."""
    for key in keys:
        value = result.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
                float("inf"), float("-inf")):
            raise Failure(f"{what}: its JSON has no number {key} (got {value!r})")
    return result


def faster(runs, key, higher_is_better):
    """Of one seed's runs at several thread counts, the faster one (the first on a tie)."""
    if not runs:
        raise ValueError("faster: no runs")
    best = runs[0]
    for run in runs[1:]:
        if (run[key] > best[key]) if higher_is_better else (run[key] < best[key]):
            best = run
    return best


def means(results, keys):
    """Each key's mean over the seeds' results."""
    return {key: statistics.fmean(r[key] for r in results) for key in keys}


def compare_rows(metrics, torch_means, our_means):
    """The table's rows: (metric, PyTorch, Recurrent, ratio, target, met) as strings; the ratio is
    the speedup for a time (PyTorch ÷ ours), ours ÷ PyTorch otherwise."""
    rows = []
    for key, name, form, target in metrics:
        theirs, ours = torch_means[key], our_means[key]
        time_like = target is not None and target[0] == "speedup"
        if time_like:
            ratio = theirs / ours if ours > 0 else float("inf")
        else:
            ratio = ours / theirs if theirs != 0 else float("inf")
        if target is None:
            goal, met = "—", "—"
        else:
            kind, amount = target
            if kind == "speedup":
                goal, ok = f"≤ {1 / amount:g} × PyTorch ({amount:g}× faster)", ours <= theirs / amount
            elif kind == "rate":
                goal, ok = f"≥ {amount:g} × PyTorch", ours >= theirs * amount
            elif kind == "within":
                goal, ok = f"≥ PyTorch − {amount:g}", ours >= theirs - amount - 1e-12
            else:
                raise ValueError(f"unknown target kind {kind}")
            met = "yes" if ok else "no"
        rows.append((name, form.format(theirs), form.format(ours), f"{ratio:.2f}×", goal, met))
    return rows


def format_table(rows):
    return "\n".join([HEADER] + ["| " + " | ".join(row) + " |" for row in rows])


def parse_list(text, what, allowed=None):
    """A comma-separated list of non-negative integers (or of the allowed words), each once."""
    items = [item.strip() for item in text.split(",")]
    if not items or any(item == "" for item in items):
        raise argparse.ArgumentTypeError(f"{what} must be a comma-separated list, got '{text}'")
    if allowed is None:
        try:
            items = [int(item) for item in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be whole numbers, got '{text}'")
        if any(item < 0 for item in items):
            raise argparse.ArgumentTypeError(f"{what} must not be negative, got '{text}'")
    if len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"{what} lists one value twice: '{text}'")
    return items


# ---- running the programs ----

def last_json(argv, what, kind=dict):
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise Failure(f"{what} failed (exit status {done.returncode}): {said}")
    return json_last_line(done.stdout, what, kind)


def check_ready(args):
    """Refuses to start without the release binary, PyTorch or the inputs."""
    if not os.path.exists(BINARY):
        raise Failure(f"{BINARY} not found: run `swift build -c release --product recurrent` in the repository root "
                      "first")
    missing = last_json([sys.executable, "-c", PROBE, "torch", "numpy"], "the check for PyTorch", list)
    if missing:
        raise Failure(f"PyTorch's programs need {', '.join(missing)}: python3 -m pip install -r "
                      "Benchmarks/requirements.txt")


def torch_runs(script, extra, seed, threads, what):
    runs = []
    for count in threads:
        argv = [sys.executable, script] + extra + ["--seed", str(seed), "--threads", str(count), "--json"]
        runs.append(last_json(argv, f"{what} (seed {seed}, {count} thread{'s' if count > 1 else ''})"))
    return runs


def run_example(name, args, folder):
    """Per seed, PyTorch's faster run and ours; returns their lists and the lines printed."""
    key, higher = SPEED[name]
    metrics = MNIST_METRICS if name == "mnist" else CHARLM_METRICS
    keys = [m[0] for m in metrics]
    theirs, ours = [], []
    for seed in args.seeds:
        if name == "mnist":
            torch_extra = ["--data", args.data, "--epochs", "1"]
            our_argv = [BINARY, "mnist", "--data", args.data] + MNIST_ARGS + [
                "--seed", str(seed), "--output", os.path.join(folder, "m.safetensors"), "--plots", folder, "--json"]
            script, what = MNIST_TUTORIAL, "mnist_tutorial.py"
        else:
            settings = [item for k, v in CHARLM_SETTINGS.items() for item in (f"--{k}", str(v))]
            torch_extra = ["--text", args.text] + settings
            our_argv = [BINARY, "charlm", "train", "--text", args.text] + settings + CHARLM_OURS_ONLY + [
                "--seed", str(seed), "--output", os.path.join(folder, "c.safetensors"), "--plots", folder, "--json"]
            script, what = CHARLM_TORCH, "charlm_torch.py"
        runs = [require(r, keys, what) for r in torch_runs(script, torch_extra, seed, args.torch_threads, what)]
        best = faster(runs, key, higher)
        mine = require(last_json(our_argv, f"recurrent {name} (seed {seed})"), keys, f"recurrent {name}")
        theirs.append(best)
        ours.append(mine)
        tried = ", ".join(f"{r['threads']} thread{'s' if r['threads'] > 1 else ''} {r[key]:.{0 if higher else 2}f}"
                          for r in runs)
        print(f"{name} seed {seed}: PyTorch {key} {tried} (kept {best['threads']}); Recurrent {mine[key]:.{0 if higher else 2}f}; "
              + ", ".join(f"{k} {best[k]:.4f} / {mine[k]:.4f}" for k in keys if k != key), flush=True)
    return compare_rows(metrics, means(theirs, keys), means(ours, keys)), [r["threads"] for r in theirs]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (and exit status 2), not usage and error."""

    def error(self, message):
        self.exit(2, f"examples.py: {message} (see --help)\n")


def parse_arguments(argv):
    parser = OneLineParser(prog="examples.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda t: parse_list(t, "--seeds"), default=[0, 1, 2],
                        help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--torch-threads", type=lambda t: parse_list(t, "--torch-threads"), default=[1, 2],
                        help="PyTorch's thread counts to try; the faster run of each seed is kept (default 1,2)")
    parser.add_argument("--only", choices=["mnist", "charlm"], help="run one of the two comparisons")
    parser.add_argument("--data", default=DEFAULT_DATA, help="MNIST-format folder of the four IDX .gz files")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the character model's UTF-8 text")
    parser.add_argument("--markdown", help="also write the table to this file (replaced whole at the end)")
    args = parser.parse_args(argv)
    if 0 in args.torch_threads:
        parser.error("argument --torch-threads: thread counts must be positive")
    if args.markdown and not os.path.isdir(os.path.dirname(os.path.abspath(args.markdown))):
        parser.error(f"--markdown {args.markdown}: its folder does not exist")
    if args.only != "charlm" and not os.path.isdir(args.data):
        parser.error(f"--data {args.data}: no such folder")
    if args.only != "mnist" and not os.path.isfile(args.text):
        parser.error(f"--text {args.text}: no such file (for the King James Bible: bible gen1:1-rev22:21 > "
                     f"{DEFAULT_TEXT})")
    return args


def run(args):
    check_ready(args)
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="recurrent-examples-") as folder:
        for name in ("mnist", "charlm"):
            if args.only and name != args.only:
                continue
            example_rows, kept = run_example(name, args, folder)
            rows += example_rows
            notes.append(f"{name}: PyTorch's faster thread count per seed {', '.join(map(str, kept))}")
    seeds = ", ".join(map(str, args.seeds))
    table = "\n".join([f"Means over seeds {seeds}; " + "; ".join(notes) + ". Recurrent on every core.", "",
                       format_table(rows)])
    print(table, flush=True)
    if args.markdown:
        write_atomically(args.markdown, table + "\n")


def main():
    args = parse_arguments(sys.argv[1:])
    try:
        run(args)
    except Failure as failure:
        sys.exit(f"examples.py: {failure}")


if __name__ == "__main__":
    main()
