#!/usr/bin/env python3
"""Check that a model trained by `recurrent mnist` predicts in PyTorch exactly as in Recurrent.

Usage (from the repository root, after `swift build -c release --product recurrent`)::

    python3 -m pip install -r Tools/requirements.txt
    .build/release/recurrent mnist --data DIR --output M.safetensors
    python3 Tools/check_mnist_roundtrip.py --model M.safetensors --data DIR [--count 2000] [--tolerance 1e-4]

The model file is loaded with ``safetensors.torch.load_file`` into the PyTorch tutorial's ``RNN``
module (``Benchmarks/mnist_tutorial.py``: ``nn.LSTM(28, 64, batch_first=True)`` and
``nn.Linear(64, 10)`` on the last step) with ``load_state_dict(..., strict=True)``, so its keys
must be exactly ``rnn.weight_ih_l0``, ``rnn.weight_hh_l0``, ``rnn.bias_ih_l0``, ``rnn.bias_hh_l0``,
``out.weight`` and ``out.bias`` with the tutorial's shapes. PyTorch then scores the first --count
test images of --data (pixels / 255, evaluation mode, no gradients), and
``recurrent run M --input X.npy --output OUT.safetensors`` scores the same images, saved as a
float32 .npy ``[N, 28, 28]`` (the model file's metadata says batch-first with the head on the last
step, so ``run`` writes ``prediction`` ``[N, 10]``).

It prints one line, ``OK: ...`` when every predicted class is the same and every logit agrees to
--tolerance (absolute), and exits 0; else ``FAILED: ...`` with the first difference, and exits 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build", "release", "recurrent")
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


class CheckFailed(Exception):
    pass


def tutorial():
    """Benchmarks/mnist_tutorial.py as a module: its RNN and its IDX reader."""
    sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
    import mnist_tutorial
    return mnist_tutorial


def test_images(folder: str, count: int):
    """The first `count` test images as float32 [N, 28, 28] in [0, 1] (numpy) and their labels."""
    import numpy as np
    mnist = tutorial()
    paths = [os.path.join(folder, name) for name in (TEST_IMAGES, TEST_LABELS)]
    for path in paths:
        if not os.path.isfile(path):
            raise CheckFailed(f"--data {folder}: missing {os.path.basename(path)}")
    try:
        images, labels = (mnist.read_idx(path) for path in paths)
    except mnist.Failure as failure:
        raise CheckFailed(str(failure))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CheckFailed(f"{paths[0]}: images are {images.shape}, not [N, 28, 28]")
    if count > len(images):
        raise CheckFailed(f"--count {count}: the test set has {len(images)} images")
    return (images[:count].astype(np.float32) / np.float32(255)), labels[:count]


def torch_logits(model_path: str, images):
    import torch
    from safetensors.torch import load_file
    model = tutorial().make_model()
    try:
        state = load_file(model_path)
    except Exception as error:  # safetensors raises several kinds
        raise CheckFailed(f"safetensors cannot read {model_path}: {str(error).splitlines()[0] if str(error) else error}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        detail = " ".join(line.strip() for line in str(error).splitlines()[1:] if line.strip())
        raise CheckFailed(f"{model_path} does not load into the tutorial's RNN strictly: {detail or error}")
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(images)).numpy()


def recurrent_logits(binary: str, model_path: str, images, folder: str):
    import numpy as np
    from safetensors.numpy import load_file
    x, out = os.path.join(folder, "x.npy"), os.path.join(folder, "out.safetensors")
    np.save(x, images)
    done = subprocess.run([binary, "run", model_path, "--input", x, "--output", out], capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise CheckFailed(f"`recurrent run` failed (exit status {done.returncode}): {said}")
    tensors = load_file(out)
    if "prediction" not in tensors:
        raise CheckFailed(f"`recurrent run` wrote {', '.join(sorted(tensors))} but no prediction: does the model "
                          "file describe a head on the last step?")
    return tensors["prediction"]


def verdict(theirs, ours, tolerance: float) -> str:
    """The check's one line; raises CheckFailed on a difference."""
    import numpy as np
    if ours.shape != theirs.shape:
        raise CheckFailed(f"`recurrent run` predicted {list(ours.shape)}, PyTorch {list(theirs.shape)}")
    classes_theirs, classes_ours = theirs.argmax(1), ours.argmax(1)
    differ = np.flatnonzero(classes_theirs != classes_ours)
    gap = np.abs(theirs.astype(np.float64) - ours.astype(np.float64))
    worst = float(gap.max()) if gap.size else 0.0
    if len(differ):
        i = int(differ[0])
        raise CheckFailed(f"{len(differ)} of {len(theirs)} predicted classes differ; the first, image {i}: PyTorch "
                          f"{int(classes_theirs[i])}, Recurrent {int(classes_ours[i])} (largest logit difference "
                          f"{worst:.3g})")
    if not worst <= tolerance:
        i, j = np.unravel_index(int(np.nanargmax(gap)) if np.isfinite(gap).any() else 0, gap.shape)
        raise CheckFailed(f"logits differ by up to {worst:.3g} (limit {tolerance:g}): image {i}, class {j}: PyTorch "
                          f"{theirs[i, j]:.6g}, Recurrent {ours[i, j]:.6g}")
    return f"classes identical on {len(theirs)} images, largest logit difference {worst:.3g} (limit {tolerance:g})"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (and exit status 2), not usage and error."""

    def error(self, message):
        self.exit(2, f"check_mnist_roundtrip.py: {message} (see --help)\n")


def parse_arguments(argv):
    def positive(kind):
        def parse(text):
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: '{text}'")
            if not value > 0 or value == float("inf"):
                raise argparse.ArgumentTypeError(f"must be positive, got {text}")
            return value
        parse.__name__ = kind.__name__
        return parse

    parser = OneLineParser(prog="check_mnist_roundtrip.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model file written by `recurrent mnist`")
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder of the IDX test files (.gz)")
    parser.add_argument("--count", type=positive(int), default=2000, help="the first this many test images")
    parser.add_argument("--tolerance", type=positive(float), default=1e-4, help="largest absolute logit difference")
    parser.add_argument("--binary", default=BINARY, help="the recurrent executable (default: the release build)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.model):
        parser.error(f"--model {args.model}: no such file")
    if not os.path.isdir(args.data):
        parser.error(f"--data {args.data}: no such folder")
    return args


def main() -> int:
    args = parse_arguments(sys.argv[1:])
    try:
        if not os.path.exists(args.binary):
            raise CheckFailed(f"{args.binary} not found: run `swift build -c release --product recurrent` first")
        try:
            import numpy  # noqa: F401
            import safetensors  # noqa: F401
            import torch  # noqa: F401
        except ImportError as error:
            raise CheckFailed(f"needs torch, safetensors and numpy ({error}): python3 -m pip install -r "
                              "Tools/requirements.txt")
        images, labels = test_images(args.data, args.count)
        theirs = torch_logits(args.model, images)
        with tempfile.TemporaryDirectory(prefix="mnist-roundtrip-") as folder:
            ours = recurrent_logits(args.binary, args.model, images, folder)
        line = verdict(theirs, ours, args.tolerance)
        accuracy = float((theirs.argmax(1) == labels).mean())
        print(f"OK: {line}; accuracy {accuracy:.4f}")
        return 0
    except CheckFailed as failure:
        print(f"FAILED: {failure}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
