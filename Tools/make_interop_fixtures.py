#!/usr/bin/env python3
"""Fixtures for the model-file commands (`recurrent run` / `recurrent fit`), written by PyTorch.

Usage (from the repository root): python3 Tools/make_interop_fixtures.py
Requires torch 2.15.0 and safetensors (Tools/requirements.txt). Deterministic.

For every case it writes, under Tests/RecurrentTests/Fixtures/interop/:
  <case>.model.safetensors   save_file(model.state_dict()), exactly as a user would (no metadata);
                             the model is a bare nn.RNN/LSTM/GRU, or a module with attributes
                             `rnn` and `head` (nn.Linear applied at every step)
  <case>.input.npy           the input ([T, B, I], [B, T, I] when batch_first, [T, I] unbatched)
  <case>.h0.npy / .c0.npy    initial states, for cases with state
  <case>.run.safetensors     output, h_n, c_n (LSTM), prediction (with a head), in eval mode;
                             metadata: kind, nonlinearity, batch_first, has_head, has_state
and for the fit cases also
  <case>.target.npy          a target with the prediction's (or output's) shape
  <case>.fit_<opt>.safetensors  the state_dict after `steps` full-batch steps of
                             zero_grad / MSE(prediction, target) / backward / step;
                             metadata: optimizer, lr, momentum, weight_decay, steps, losses
"""
import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join("Tests", "RecurrentTests", "Fixtures", "interop")
I, H, P, T, B = 3, 4, 2, 5, 3


class WithHead(torch.nn.Module):
    def __init__(self, rnn, outputs=2):
        super().__init__()
        self.rnn = rnn
        directions = 2 if rnn.bidirectional else 1
        self.head = torch.nn.Linear(directions * (rnn.proj_size or rnn.hidden_size) if hasattr(rnn, "proj_size")
                                    else directions * rnn.hidden_size, outputs)


def make_rnn(kind, layers, bidirectional, batch_first, bias=True, proj=0):
    args = dict(input_size=I, hidden_size=H, num_layers=layers, bias=bias, batch_first=batch_first,
                bidirectional=bidirectional)
    if kind == "lstm":
        return torch.nn.LSTM(proj_size=proj, **args)
    if kind == "gru":
        return torch.nn.GRU(**args)
    return torch.nn.RNN(nonlinearity=kind.split("_")[1], **args)


def forward(model, x, state):
    rnn = model.rnn if isinstance(model, WithHead) else model
    if state is None:
        out = rnn(x)
    else:
        out = rnn(x, state if isinstance(rnn, torch.nn.LSTM) else state[0])
    output, hidden = out
    h, c = hidden if isinstance(hidden, tuple) else (hidden, None)
    prediction = model.head(output) if isinstance(model, WithHead) else None
    return output, h, c, prediction


def save_sorted(tensors, path, metadata):
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path, metadata=dict(sorted(metadata.items())))


def case(name, kind, layers=1, bidirectional=False, batch_first=False, head=False, state=False, bias=True,
         proj=0, unbatched=False, fits=()):
    torch.manual_seed(zlib.crc32(name.encode()))
    rnn = make_rnn(kind, layers, bidirectional, batch_first, bias, proj)
    model = WithHead(rnn) if head else rnn
    model.eval()
    shape = (T, I) if unbatched else ((B, T, I) if batch_first else (T, B, I))
    x = torch.randn(*shape)
    d, hout = (2 if bidirectional else 1), (proj or H)
    states = None
    if state:
        lead = (d * layers,) if unbatched else (d * layers, B)
        states = (torch.randn(*lead, hout), torch.randn(*lead, H))
    base = os.path.join(OUT, name)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, base + ".model.safetensors")
    np.save(base + ".input.npy", x.numpy())
    if states:
        np.save(base + ".h0.npy", states[0].numpy())
        if kind == "lstm":
            np.save(base + ".c0.npy", states[1].numpy())
    with torch.no_grad():
        output, h, c, prediction = forward(model, x, states)
    result = {"output": output, "h_n": h}
    if c is not None:
        result["c_n"] = c
    if prediction is not None:
        result["prediction"] = prediction
    meta = {"kind": kind.split("_")[0], "nonlinearity": kind.split("_")[1] if kind.startswith("rnn") else "tanh",
            "batch_first": str(batch_first).lower(), "has_head": str(head).lower(), "has_state": str(state).lower(),
            "torch_version": torch.__version__}
    save_sorted(result, base + ".run.safetensors", meta)
    if fits:
        target = torch.randn(*(prediction if prediction is not None else output).shape)
        np.save(base + ".target.npy", target.numpy())
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        for optimizer_name, options, steps in fits:
            model.load_state_dict(initial)
            model.train()
            optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer_name](
                model.parameters(), **options)
            losses = []
            for _ in range(steps):
                optimizer.zero_grad()
                output, _, _, prediction = forward(model, x, states)
                loss = F.mse_loss(prediction if prediction is not None else output, target)
                losses.append(loss.item())
                loss.backward()
                optimizer.step()
            meta = {"optimizer": optimizer_name, "lr": repr(options["lr"]), "momentum": repr(options.get("momentum", 0.0)),
                    "weight_decay": repr(optimizer.param_groups[0]["weight_decay"]), "steps": str(steps),
                    "losses": ",".join(repr(v) for v in losses), "torch_version": torch.__version__}
            save_sorted(dict(model.state_dict()), f"{base}.fit_{optimizer_name}.safetensors", meta)
        model.load_state_dict(initial)


def main():
    assert torch.__version__.startswith("2.15"), torch.__version__
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    kinds = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
    for kind in kinds:
        for layers in (1, 2):
            for bidirectional in (False, True):
                for batch_first in (False, True):
                    for head in (False, True):
                        name = f"{kind}_L{layers}_{'bi' if bidirectional else 'uni'}_{'bf' if batch_first else 'tm'}_{'head' if head else 'nohead'}"
                        fits = ()
                        if name == "lstm_L1_uni_tm_head":
                            fits = (("sgd", {"lr": 0.1, "momentum": 0.9}, 5), ("adam", {"lr": 0.01}, 5),
                                    ("adamw", {"lr": 0.01, "weight_decay": 0.1}, 5))
                        if name == "gru_L2_bi_bf_nohead":
                            fits = (("sgd", {"lr": 0.05, "weight_decay": 0.01}, 4), ("adam", {"lr": 0.005}, 4))
                        case(name, kind, layers, bidirectional, batch_first, head, fits=fits)
        case(f"{kind}_L2_bi_tm_nohead_state", kind, 2, True, state=True,
             fits=(("sgd", {"lr": 0.1, "momentum": 0.5}, 3), ("adam", {"lr": 0.01}, 3)) if kind == "rnn_tanh" else ())
        case(f"{kind}_L1_uni_tm_head_nobias", kind, head=True, bias=False)
        case(f"{kind}_unbatched_L1_uni_head", kind, head=True, unbatched=True)
    case("lstm_proj_L2_bi_tm_head", "lstm", 2, True, head=True, proj=P, fits=(("adam", {"lr": 0.01}, 3),))
    case("lstm_proj_L1_uni_bf_nohead_state", "lstm", 1, False, True, state=True, proj=P)
    files = sorted(os.listdir(OUT))
    print(f"wrote {len(files)} files, {sum(os.path.getsize(os.path.join(OUT, f)) for f in files)} bytes")


if __name__ == "__main__":
    main()
