#!/usr/bin/env python3
"""Data for the README's "Seeing inside" example: an LSTM that latches a value at each marker.

Usage (from the repository root; needs only numpy)::

    python3 Tools/make_trace_example.py OUT_DIR
    recurrent fit OUT_DIR/latch-init.safetensors --input OUT_DIR/x.npy --target OUT_DIR/y.npy \\
        --optimizer adam --lr 0.01 --steps 600 --output OUT_DIR/latch.safetensors
    recurrent trace OUT_DIR/latch.safetensors --input OUT_DIR/probe.npy --output OUT_DIR/trace.safetensors \\
        --svg OUT_DIR/trace --gradient-norms

The task: each step holds a value from U(-1, 1) and a marker (1 at about one step in eight, always
at step 0); the target at every step is the value at the most recent marker. An LSTM solves it by
opening its input gate and closing its forget gate at a marker, and holding the cell state in
between, which the forget gate's heatmap shows as dark stripes at the markers.

Writes, time-major (``[T, B, ...]``), float32:

- ``latch-init.safetensors``: ``rnn.*`` of ``nn.LSTM(2, 8)`` and ``head.*`` of ``nn.Linear(8, 1)``,
  initialised from U(-1/sqrt(8), 1/sqrt(8)) as PyTorch does (numpy's generator, seed 0);
- ``x.npy`` ``[40, 128, 2]`` and ``y.npy`` ``[40, 128, 1]``: the training batch;
- ``probe.npy`` ``[40, 4, 2]``: four sequences with markers at steps 0, 9, 22 and 31.
"""
import json
import pathlib
import struct
import sys

import numpy as np

T, B, H = 40, 128, 8


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def sequences(rng, batch, markers=None):
    x = np.zeros((T, batch, 2), dtype=np.float32)
    x[:, :, 0] = rng.uniform(-1, 1, size=(T, batch))
    if markers is None:
        x[:, :, 1] = rng.random((T, batch)) < 1 / 8
    else:
        x[markers, :, 1] = 1
    x[0, :, 1] = 1
    y = np.zeros((T, batch, 1), dtype=np.float32)
    for b in range(batch):
        held = 0.0
        for t in range(T):
            if x[t, b, 1] == 1:
                held = x[t, b, 0]
            y[t, b, 0] = held
    return x, y


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(H)
    init = {
        "rnn.weight_ih_l0": rng.uniform(-k, k, (4 * H, 2)),
        "rnn.weight_hh_l0": rng.uniform(-k, k, (4 * H, H)),
        "rnn.bias_ih_l0": rng.uniform(-k, k, (4 * H,)),
        "rnn.bias_hh_l0": rng.uniform(-k, k, (4 * H,)),
        "head.weight": rng.uniform(-k, k, (1, H)),
        "head.bias": rng.uniform(-k, k, (1,)),
    }
    save_safetensors(out / "latch-init.safetensors", init)
    x, y = sequences(rng, B)
    np.save(out / "x.npy", x)
    np.save(out / "y.npy", y)
    probe, _ = sequences(rng, 4, markers=[0, 9, 22, 31])
    np.save(out / "probe.npy", probe)


if __name__ == "__main__":
    main()
