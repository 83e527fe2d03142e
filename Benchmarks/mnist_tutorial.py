#!/usr/bin/env python3
"""The PyTorch tutorial's row-by-row MNIST classifier, as the reference for `recurrent mnist`.

Usage (from the repository root):

    python3 Benchmarks/mnist_tutorial.py [--data DIR] [--seed 0] [--threads 1] [--epochs 1] [--json]

The model is the tutorial's, unchanged: an LSTM (28 inputs, 64 hidden units, batch-first) reads an
image's 28 rows one per step, and a Linear layer classifies the last step's output into 10 classes.
CrossEntropyLoss, Adam (lr 1e-3), mini-batches of 50, shuffled every epoch. Pixels are scaled to
[0, 1] (uint8 / 255, as torchvision's ToTensor does).

The four IDX files (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-…`) are read
with gzip and numpy and held in memory as tensors; an epoch shuffles with `torch.randperm` (after
`torch.manual_seed(seed)`, which also sets the initial weights) and slices, so no DataLoader runs.

`epoch_seconds` is the mean time of an epoch's training updates (shuffle, forward, backward and
step), not the evaluation. The test accuracy is measured in evaluation mode under torch.no_grad on
the first 2000 test images (`test_accuracy`, the tutorial's subset) and on all 10000
(`test_accuracy_full`). With --json the last line of the output is one JSON object with those, plus
`threads`, `seed`, `epochs` and `final_loss` (the mean loss of the last epoch's batches).
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
BATCH_SIZE = 50
LEARNING_RATE = 1e-3
SUBSET = 2000  # the tutorial's test subset: the first 2000 test images


class Failure(Exception):
    """A run that cannot go on: main prints its message as one line and exits with status 1."""


def idx_header(data, name):
    """The shape of an IDX file's array of unsigned bytes, from its header (magic 0x0000 08 NN, then
    NN big-endian 32-bit sizes), and the offset of its first element. Checks that the bytes that
    follow are exactly that many."""
    if len(data) < 4:
        raise Failure(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero, kind, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08 or rank == 0:
        raise Failure(f"{name}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    if len(data) < 4 + 4 * rank:
        raise Failure(f"{name}: IDX header cut short")
    shape = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    count = 1
    for size in shape:
        count *= size
    offset = 4 + 4 * rank
    if len(data) - offset != count:
        raise Failure(f"{name}: IDX header says {'×'.join(map(str, shape))} = {count} bytes, file holds "
                      f"{len(data) - offset}")
    return tuple(shape), offset


def read_idx(path):
    """An IDX .gz file as a numpy uint8 array."""
    import numpy as np
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise Failure(f"cannot read {path}: {error}")
    shape, offset = idx_header(data, path)
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def load_data(folder):
    """The four arrays as tensors: images float32 [N, 28, 28] in [0, 1], labels int64 [N]."""
    import torch
    missing = [name for name in FILES.values() if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise Failure(f"--data {folder}: missing {', '.join(missing)}")
    arrays = {key: read_idx(os.path.join(folder, name)) for key, name in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or len(labels) != len(images):
            raise Failure(f"--data {folder}: {split} images {images.shape} and labels {labels.shape} are not "
                          "[N, 28, 28] and [N]")
        if labels.max() > 9:
            raise Failure(f"--data {folder}: {split} label {int(labels.max())} is not a class 0–9")
    out = {}
    for key, array in arrays.items():
        tensor = torch.from_numpy(array.copy())
        out[key] = tensor.float().div_(255) if key.endswith("images") else tensor.long()
    return out


def make_model():
    import torch.nn as nn

    class RNN(nn.Module):
        """The tutorial's classifier."""

        def __init__(self):
            super(RNN, self).__init__()
            self.rnn = nn.LSTM(input_size=28, hidden_size=64, num_layers=1, batch_first=True)
            self.out = nn.Linear(64, 10)

        def forward(self, x):
            r_out, (h_n, h_c) = self.rnn(x, None)  # None: a zero initial state
            return self.out(r_out[:, -1, :])

    return RNN()


def accuracy(model, images, labels, batch=1000):
    """The share of images whose largest logit is the label (evaluation mode, no gradients)."""
    import torch
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            logits = model(images[start:start + batch])
            correct += (logits.argmax(1) == labels[start:start + batch]).sum().item()
    model.train()
    return correct / len(images)


def train(args):
    import torch
    torch.set_num_threads(args.threads)
    data = load_data(args.data)
    torch.manual_seed(args.seed)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_func = torch.nn.CrossEntropyLoss()
    images, labels = data["train_images"], data["train_labels"]
    n = len(images)
    seconds, final_loss = [], float("nan")
    model.train()
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(n)
        total = torch.zeros(())
        batches = 0
        for first in range(0, n, BATCH_SIZE):
            index = order[first:first + BATCH_SIZE]
            b_x, b_y = images[index], labels[index]
            output = model(b_x)
            loss = loss_func(output, b_y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
            batches += 1
        final_loss = total.item() / batches
        seconds.append(time.perf_counter() - start)
        if not args.json:
            print(f"epoch {epoch + 1}: {seconds[-1]:.2f} s, mean loss {final_loss:.4f}", flush=True)
    subset = accuracy(model, data["test_images"][:SUBSET], data["test_labels"][:SUBSET])
    full = accuracy(model, data["test_images"], data["test_labels"])
    return {"epoch_seconds": sum(seconds) / len(seconds), "test_accuracy": subset, "test_accuracy_full": full,
            "threads": args.threads, "seed": args.seed, "epochs": args.epochs, "final_loss": final_loss,
            "torch": torch.__version__}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (and exit status 2), not usage and error."""

    def error(self, message):
        self.exit(2, f"{os.path.basename(sys.argv[0]) or 'mnist_tutorial.py'}: {message} (see --help)\n")


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def parse_arguments(argv):
    parser = OneLineParser(prog="mnist_tutorial.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder of the four IDX .gz files")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch.set_num_threads")
    parser.add_argument("--epochs", type=positive_int, default=1)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        parser.error(f"--data {args.data}: no such folder")
    return args


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        try:
            import torch  # noqa: F401
            import numpy  # noqa: F401
        except ImportError as error:
            raise Failure(f"needs torch and numpy ({error}): python3 -m pip install -r Benchmarks/requirements.txt")
        result = train(args)
    except Failure as failure:
        sys.exit(f"mnist_tutorial.py: {failure}")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['epoch_seconds']:.2f} s per epoch; test accuracy {result['test_accuracy']:.4f} "
              f"(first {SUBSET}), {result['test_accuracy_full']:.4f} (all)")


if __name__ == "__main__":
    main()
