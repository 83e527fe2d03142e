#!/usr/bin/env python3
"""PyTorch reference for truncated backpropagation through time (the streaming part of issue 27).

Usage (from the repository root)::

    python3 -m pip install -r Tools/requirements.txt
    python3 Tools/make_streaming_fixtures.py

Deterministic as `Tools/make_fixtures.py` (seed = CRC-32 of the case name, one thread, float32,
sorted metadata with `torch_version`). Writes `Tests/RecurrentTests/Fixtures/streaming/<case>.safetensors`:
a recurrent layer (`rnn.`) with a `Linear` head at every step (`head.`) walked over `input` in
chunks of `chunk` steps, each chunk starting from the previous chunk's final state detached
(`h.detach()`), loss = mse_loss(head(output), target chunk) per chunk, `loss.backward()` after
each chunk with the gradients accumulating (no optimizer step), as a TBPTT training loop computes them.

Tensors: `param.<name>` (state_dict), `input`, `target`, `losses` [chunks], `grad.param.<name>`
(accumulated over the chunks), `output` (the whole sequence run at once, for the chunked run to
match). Metadata: kind, num_layers, batch_first, input_size, hidden_size, seq_len, batch, chunk.
"""
import json
import struct
import zlib
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path("Tests/RecurrentTests/Fixtures/streaming")
CASES = [
    ("lstm_L2_chunk5", "lstm", 2, False, 5),
    ("gru_L1_bf_chunk4", "gru", 1, True, 4),
    ("rnn_L2_chunk1", "rnn", 2, False, 1),
]
I, H, T, B, OUTPUTS = 3, 5, 12, 4, 2


def canonicalize_header(path: Path) -> None:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (n - len(text)) if len(text) <= n else b""
    assert len(text) == n, "header grew"
    path.write_bytes(raw[:8] + text + raw[8 + n:])


def main() -> None:
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False  # the native CPU kernels, as the other fixture scripts
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.safetensors"):
        old.unlink()
    for name, kind, layers, batch_first, chunk in CASES:
        torch.manual_seed(zlib.crc32(name.encode()))
        layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](I, H, num_layers=layers, batch_first=batch_first)
        head = torch.nn.Linear(H, OUTPUTS)
        shape = (B, T, I) if batch_first else (T, B, I)
        x = torch.randn(*shape)
        y = torch.randn(*(shape[:2] + (OUTPUTS,)))
        with torch.no_grad():
            whole = layer(x)[0]
        time_axis = 1 if batch_first else 0
        state, losses = None, []
        for start in range(0, T, chunk):
            xs, ys = x.narrow(time_axis, start, min(chunk, T - start)), y.narrow(time_axis, start, min(chunk, T - start))
            out, state = layer(xs, state)
            loss = torch.nn.functional.mse_loss(head(out), ys)
            loss.backward()
            losses.append(loss.item())
            state = tuple(s.detach() for s in state) if kind == "lstm" else state.detach()
        tensors = {"input": x, "target": y, "losses": torch.tensor(losses), "output": whole}
        for prefix, module in (("rnn.", layer), ("head.", head)):
            for pname, p in module.named_parameters():
                tensors["param." + prefix + pname] = p.detach().clone()
                tensors["grad.param." + prefix + pname] = p.grad.detach().clone()
        meta = {"kind": kind, "num_layers": str(layers), "batch_first": str(batch_first).lower(), "input_size": str(I),
                "hidden_size": str(H), "seq_len": str(T), "batch": str(B), "chunk": str(chunk), "torch_version": torch.__version__}
        path = OUT / f"{name}.safetensors"
        save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(path), metadata=meta)
        canonicalize_header(path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
