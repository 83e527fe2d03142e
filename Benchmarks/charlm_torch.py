#!/usr/bin/env python3
"""A character-level LSTM language model in PyTorch, the reference for `recurrent charlm train`.

Usage (from the repository root):

    python3 Benchmarks/charlm_torch.py --text FILE [--max-chars 300000] [--window 25] [--batch-size 64]
        [--embedding-size 64] [--hidden-size 256] [--epochs 1] [--lr 0.002] [--seed 0] [--threads 1] [--json]

The text is read as UTF-8 and its first --max-chars characters (Unicode code points) are kept;
the vocabulary is their sorted distinct characters. The last 10% of the characters are held out
for validation, the first 90% are cut into non-overlapping windows of --window characters (starts
0, W, 2W, …, each with the next character as the target of its last step) that are shuffled every
epoch (`torch.randperm` after `torch.manual_seed(seed)`) and taken --batch-size at a time (the last
batch may be smaller), each from a zero state.

Model: nn.Embedding(V, E) → nn.LSTM(E, H) (time-major, [T, B]) → nn.Linear(H, V) on every step;
the loss is the cross-entropy averaged over every position; Adam, and the gradients' global norm
clipped to 5 before each step.

Validation walks the held-out tail as 64 parallel streams (stream j is the j-th of 64 equal
pieces, PyTorch's word-language-model `batchify`) in chunks of --window steps with the state
carried from chunk to chunk, in evaluation mode under torch.no_grad; `val_bits_per_char` is the
mean cross-entropy over all its positions divided by ln 2.

`chars_per_second` is the characters trained on (window × batch, summed over the batches) per
second of training updates (forward, backward, clipping and step); `train_seconds` is that time
over all epochs. Neither counts validation. With --json the last line is one JSON object with
those, `val_bits_per_char`, `final_loss` (the mean training loss of the last epoch's batches),
`vocabulary`, `train_chars`, `val_chars`, `threads` and `seed`.
"""
import argparse
import json
import math
import os
import sys
import time

VALIDATION_FRACTION = 0.1
VALIDATION_STREAMS = 64
CLIP_NORM = 5.0


class Failure(Exception):
    """A run that cannot go on: main prints its message as one line and exits with status 1."""


def read_characters(path, max_chars):
    """The first max_chars characters (code points) of a UTF-8 file."""
    try:
        with open(path, encoding="utf-8", newline="") as f:  # no newline translation
            text = f.read(max_chars)
    except UnicodeDecodeError as error:
        raise Failure(f"--text {path} is not UTF-8: {error}")
    except OSError as error:
        raise Failure(f"cannot read --text {path}: {error.strerror or error}")
    return text


def split_point(count, fraction=VALIDATION_FRACTION):
    """Where the held-out tail starts: the first count - round-down(count × fraction) characters train."""
    return count - int(count * fraction)


def window_starts(count, window):
    """The starts of the non-overlapping windows of `window` tokens, each with its next token, in a
    sequence of `count` tokens: 0, W, 2W, … up to count - W - 1."""
    return list(range(0, count - window, window))


def stream_chunks(count, streams, window):
    """The (start, length) chunks that walk `streams` parallel streams of a `count`-token sequence:
    each stream holds (count - 1) // streams steps, and the chunks cut them into `window` steps (the
    last may be shorter)."""
    per_stream = (count - 1) // streams
    return [(start, min(window, per_stream - start)) for start in range(0, per_stream, window)]


def check_sizes(train_count, val_count, window):
    if train_count <= window:
        raise Failure(f"the training part holds {train_count} characters, too few for one window of {window} and "
                      "its next character")
    if (val_count - 1) // VALIDATION_STREAMS < 1:
        raise Failure(f"the validation part holds {val_count} characters, too few for {VALIDATION_STREAMS} streams")


def run(args):
    import torch
    import torch.nn as nn
    torch.set_num_threads(args.threads)
    text = read_characters(args.text, args.max_chars)
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    tokens = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = split_point(len(tokens))
    train_tokens, val_tokens = tokens[:cut], tokens[cut:]
    check_sizes(len(train_tokens), len(val_tokens), args.window)
    v, w = len(vocabulary), args.window

    torch.manual_seed(args.seed)

    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(v, args.embedding_size)
            self.rnn = nn.LSTM(args.embedding_size, args.hidden_size, batch_first=False)
            self.head = nn.Linear(args.hidden_size, v)

        def forward(self, x, state=None):
            output, state = self.rnn(self.embedding(x), state)
            return self.head(output), state

    model = CharModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_func = nn.CrossEntropyLoss()
    starts = torch.tensor(window_starts(len(train_tokens), w), dtype=torch.long)
    offsets = torch.arange(w + 1)
    train_seconds, characters, final_loss = 0.0, 0, float("nan")
    model.train()
    for epoch in range(args.epochs):
        began = time.perf_counter()
        order = starts[torch.randperm(len(starts))]
        total, batches = torch.zeros(()), 0
        for first in range(0, len(order), args.batch_size):
            batch = order[first:first + args.batch_size]
            sample = train_tokens[batch[None, :] + offsets[:, None]]  # [W + 1, B], time-major
            x, y = sample[:-1], sample[1:]
            logits, _ = model(x)
            loss = loss_func(logits.reshape(-1, v), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            total += loss.detach()
            batches += 1
            characters += x.numel()
        train_seconds += time.perf_counter() - began
        final_loss = total.item() / batches
        if not args.json:
            print(f"epoch {epoch + 1}: {time.perf_counter() - began:.2f} s, mean loss {final_loss:.4f}", flush=True)

    model.eval()
    per_stream = (len(val_tokens) - 1) // VALIDATION_STREAMS
    streams = val_tokens[:VALIDATION_STREAMS * per_stream + 1]
    nll, count, state = 0.0, 0, None
    with torch.no_grad():
        for start, length in stream_chunks(len(val_tokens), VALIDATION_STREAMS, w):
            # step t of stream j is token j·per_stream + start + t; its target is the token after it
            position = (torch.arange(VALIDATION_STREAMS)[None, :] * per_stream + start + torch.arange(length)[:, None])
            x, y = streams[position], streams[position + 1]
            logits, state = model(x, state)
            nll += loss_func(logits.reshape(-1, v), y.reshape(-1)).item() * y.numel()
            count += y.numel()
    return {"chars_per_second": characters / train_seconds, "val_bits_per_char": nll / count / math.log(2),
            "train_seconds": train_seconds, "final_loss": final_loss, "vocabulary": v,
            "train_chars": len(train_tokens), "val_chars": len(val_tokens), "threads": args.threads,
            "seed": args.seed, "epochs": args.epochs, "torch": torch.__version__}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (and exit status 2), not usage and error."""

    def error(self, message):
        self.exit(2, f"charlm_torch.py: {message} (see --help)\n")


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: '{text}'")
        if not value > 0 or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def parse_arguments(argv):
    parser = OneLineParser(prog="charlm_torch.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", required=True, help="a UTF-8 text file")
    parser.add_argument("--max-chars", type=positive(int), default=300000)
    parser.add_argument("--window", type=positive(int), default=25)
    parser.add_argument("--batch-size", type=positive(int), default=64)
    parser.add_argument("--embedding-size", type=positive(int), default=64)
    parser.add_argument("--hidden-size", type=positive(int), default=256)
    parser.add_argument("--epochs", type=positive(int), default=1)
    parser.add_argument("--lr", type=positive(float), default=0.002)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--threads", type=positive(int), default=1, help="torch.set_num_threads")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.text):
        parser.error(f"--text {args.text}: no such file")
    return args


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        try:
            import torch  # noqa: F401
        except ImportError as error:
            raise Failure(f"needs torch ({error}): python3 -m pip install -r Benchmarks/requirements.txt")
        result = run(args)
    except Failure as failure:
        sys.exit(f"charlm_torch.py: {failure}")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['chars_per_second']:.0f} characters/s over {result['train_seconds']:.2f} s; validation "
              f"{result['val_bits_per_char']:.4f} bits/character")


if __name__ == "__main__":
    main()
