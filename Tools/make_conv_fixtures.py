#!/usr/bin/env python3
"""Generate reference fixtures for Conv2d, ConvLSTM, ConvGRU and SepConvGRU (issue 29).

Usage (from any directory)::

    python3 -m pip install -r Tools/requirements.txt   # torch 2.15.0, safetensors 0.8.0, numpy
    python3 Tools/make_conv_fixtures.py

Each run deletes and regenerates ``Tests/RecurrentTests/Fixtures/conv/`` and nothing else. The
script is deterministic: every case seeds ``torch.manual_seed`` with the CRC-32 of its name and
runs on the CPU with one thread in float32; the safetensors headers are rewritten with sorted
metadata keys, so a re-run reproduces every file byte for byte.

References
    conv2d_*      ``torch.nn.Conv2d`` itself (kernels 1, 3, 5, 1x5, 5x1, 2x2; paddings explicit,
                  "same" (odd and even kernels) and "valid"; with and without bias; stride 2;
                  odd plane sizes).
    convlstm_*    ConvLSTM as ndrplz/ConvLSTM_pytorch writes it (one ``conv`` over
                  ``cat([x, h], dim=1)`` giving the gates i, f, o, g in that order, padding
                  kernel // 2), written out below, with optional peepholes after Shi et al. 2015:
                  ``i = sigmoid(a_i + w_ci * c)``, ``f = sigmoid(a_f + w_cf * c)``,
                  ``c' = f * c + i * tanh(a_g)``, ``o = sigmoid(a_o + w_co * c')``,
                  ``h' = o * tanh(c')``; ``w_c*`` are ``[hidden, H, W]`` Hadamard weights.
                  Layers: layer l reads layer l-1's outputs; ``h_n``, ``c_n`` are
                  ``[L, B, hidden, H, W]``.
    convgru_*     RAFT's ``core/update.py`` ConvGRU, copied: ``hx = cat([h, x])``,
                  ``z = sigmoid(convz(hx))``, ``r = sigmoid(convr(hx))``,
                  ``q = tanh(convq(cat([r * h, x])))``, ``h = (1 - z) * h + z * q`` (3x3, padding 1).
    sepconvgru_*  RAFT's SepConvGRU, copied: the same update with 1x5 kernels (padding (0, 2)),
                  then with 5x1 kernels (padding (2, 0)).
    *_seq_*       The cell run over ``[T, B, C, H, W]`` (or batch first) and stacked as above.
    raft_sepconvgru  A state dict with RAFT's key names (``update_block.gru.convz1.weight``, ...)
                  beside other RAFT keys (``update_block.encoder...``, ``fnet...``) that must be
                  skipped when loading with the prefix ``update_block.gru.``; the channel counts
                  are small (RAFT's 128 + 320 would be 7 MB of weights), the names and the module
                  are RAFT's.

Every file holds ``input`` (and ``h0`` / ``c0`` when given), ``param.*`` (the module's
``state_dict``), the outputs, ``loss_weight.*`` (random weights w with loss = sum(w * output) over
every output) and ``grad.*`` for every input and parameter.
"""
from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

OUT = Path(__file__).resolve().parent.parent / "Tests" / "RecurrentTests" / "Fixtures" / "conv"


# ---- Reference modules -------------------------------------------------------------------------

class ConvLSTMCell(nn.Module):
    """ndrplz/ConvLSTM_pytorch's cell, with Shi et al.'s peepholes as an option."""

    def __init__(self, input_dim, hidden_dim, kernel_size, bias, peephole=False, frame=None):
        super().__init__()
        self.hidden_dim = hidden_dim
        padding = (kernel_size[0] // 2, kernel_size[1] // 2)
        self.conv = nn.Conv2d(input_dim + hidden_dim, 4 * hidden_dim, kernel_size, padding=padding, bias=bias)
        self.peephole = peephole
        if peephole:
            self.w_ci = nn.Parameter(torch.randn(hidden_dim, *frame) * 0.5)
            self.w_cf = nn.Parameter(torch.randn(hidden_dim, *frame) * 0.5)
            self.w_co = nn.Parameter(torch.randn(hidden_dim, *frame) * 0.5)

    def forward(self, x, h, c):
        combined = torch.cat([x, h], dim=1)
        cc_i, cc_f, cc_o, cc_g = torch.split(self.conv(combined), self.hidden_dim, dim=1)
        if self.peephole:
            cc_i = cc_i + self.w_ci * c
            cc_f = cc_f + self.w_cf * c
        i, f, g = torch.sigmoid(cc_i), torch.sigmoid(cc_f), torch.tanh(cc_g)
        c_next = f * c + i * g
        if self.peephole:
            cc_o = cc_o + self.w_co * c_next
        o = torch.sigmoid(cc_o)
        return o * torch.tanh(c_next), c_next


class ConvGRU(nn.Module):
    """RAFT core/update.py, verbatim but for the sizes."""

    def __init__(self, hidden_dim=128, input_dim=192 + 128):
        super().__init__()
        self.convz = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)
        self.convr = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)
        self.convq = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)

    def forward(self, h, x):
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        q = torch.tanh(self.convq(torch.cat([r * h, x], dim=1)))
        h = (1 - z) * h + z * q
        return h


class SepConvGRU(nn.Module):
    """RAFT core/update.py, verbatim but for the sizes."""

    def __init__(self, hidden_dim=128, input_dim=192 + 128):
        super().__init__()
        self.convz1 = nn.Conv2d(hidden_dim + input_dim, hidden_dim, (1, 5), padding=(0, 2))
        self.convr1 = nn.Conv2d(hidden_dim + input_dim, hidden_dim, (1, 5), padding=(0, 2))
        self.convq1 = nn.Conv2d(hidden_dim + input_dim, hidden_dim, (1, 5), padding=(0, 2))
        self.convz2 = nn.Conv2d(hidden_dim + input_dim, hidden_dim, (5, 1), padding=(2, 0))
        self.convr2 = nn.Conv2d(hidden_dim + input_dim, hidden_dim, (5, 1), padding=(2, 0))
        self.convq2 = nn.Conv2d(hidden_dim + input_dim, hidden_dim, (5, 1), padding=(2, 0))

    def forward(self, h, x):
        # horizontal
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.convz1(hx))
        r = torch.sigmoid(self.convr1(hx))
        q = torch.tanh(self.convq1(torch.cat([r * h, x], dim=1)))
        h = (1 - z) * h + z * q
        # vertical
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.convz2(hx))
        r = torch.sigmoid(self.convr2(hx))
        q = torch.tanh(self.convq2(torch.cat([r * h, x], dim=1)))
        h = (1 - z) * h + z * q
        return h


class SequenceLayer(nn.Module):
    """A stack of cells run over time (ndrplz's ConvLSTM loop, for every cell kind)."""

    def __init__(self, cells, batch_first):
        super().__init__()
        self.cell_list = nn.ModuleList(cells)
        self.batch_first = batch_first

    def forward(self, x, states):
        # x: [T, B, C, H, W] (or [B, T, ...]); states: per layer (h,) or (h, c)
        if self.batch_first:
            x = x.transpose(0, 1)
        finals = []
        for layer, cell in enumerate(self.cell_list):
            state = states[layer]
            outputs = []
            for t in range(x.shape[0]):
                if isinstance(cell, ConvLSTMCell):
                    state = cell(x[t], *state)
                else:
                    state = (cell(state[0], x[t]),)
                outputs.append(state[0])
            x = torch.stack(outputs)
            finals.append(state)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, [torch.stack([s[k] for s in finals]) for k in range(len(finals[0]))]


# ---- Cases -------------------------------------------------------------------------------------

def conv_cases():
    # name, in, out, kernel, padding, stride, bias, batch, H, W
    return [
        ("conv2d_k1", 3, 4, (1, 1), 0, (1, 1), True, 2, 5, 6),
        ("conv2d_k3_same", 3, 5, (3, 3), "same", (1, 1), True, 2, 7, 5),
        ("conv2d_k3_valid_nobias", 2, 3, (3, 3), 0, (1, 1), False, 1, 6, 7),
        ("conv2d_k5_pad2", 2, 3, (5, 5), (2, 2), (1, 1), True, 2, 5, 9),
        ("conv2d_k1x5_pad0x2", 4, 3, (1, 5), (0, 2), (1, 1), True, 2, 4, 9),
        ("conv2d_k5x1_pad2x0", 4, 3, (5, 1), (2, 0), (1, 1), True, 1, 9, 4),
        ("conv2d_k3_stride2", 3, 4, (3, 3), (1, 1), (2, 2), True, 2, 7, 8),
        ("conv2d_k2_same_even", 2, 3, (2, 2), "same", (1, 1), True, 2, 5, 6),
        ("conv2d_k3_pad2_tiny", 2, 2, (3, 3), (2, 2), (1, 1), False, 1, 1, 1),
        ("conv2d_k5x3_pad1x0_stride2x1", 3, 2, (5, 3), (1, 0), (2, 1), True, 2, 8, 5),
        ("conv2d_k3_same_wide", 5, 33, (3, 3), "same", (1, 1), True, 1, 3, 40),
    ]


def conv_fixture(case):
    name, cin, cout, kernel, padding, stride, bias, batch, h, w = case
    conv = nn.Conv2d(cin, cout, kernel, padding=padding, stride=stride, bias=bias)
    x = torch.randn(batch, cin, h, w, requires_grad=True)
    y = conv(x)
    lw = torch.randn(y.shape)
    (y * lw).sum().backward()
    pad = padding if isinstance(padding, str) else ",".join(map(str, padding if isinstance(padding, tuple) else (padding, padding)))
    meta = {"kind": "conv2d", "in_channels": str(cin), "out_channels": str(cout), "kernel_h": str(kernel[0]),
            "kernel_w": str(kernel[1]), "padding": pad, "stride_h": str(stride[0]), "stride_w": str(stride[1]),
            "bias": str(bias).lower()}
    tensors = {"input": x, "output": y, "loss_weight.output": lw, "grad.input": x.grad}
    for n, p in conv.named_parameters():
        tensors[f"param.{n}"] = p
        tensors[f"grad.param.{n}"] = p.grad
    return tensors, meta


def seq_cases():
    # name, kind, in, hidden, kernel, layers, bias, batch_first, state, peephole, T, B, H, W
    return [
        ("convlstm_seq_L1_k3", "convlstm", 2, 3, (3, 3), 1, True, False, False, False, 3, 2, 4, 5),
        ("convlstm_seq_L2_k3_bf_state", "convlstm", 2, 3, (3, 3), 2, True, True, True, False, 3, 2, 4, 5),
        ("convlstm_seq_L1_k5x3_nobias_state", "convlstm", 3, 2, (5, 3), 1, False, False, True, False, 2, 2, 5, 4),
        ("convlstm_seq_L2_peephole_state", "convlstm", 2, 3, (3, 3), 2, True, False, True, True, 3, 2, 4, 5),
        ("convgru_seq_L1_state", "convgru", 3, 4, (3, 3), 1, True, False, True, False, 3, 2, 4, 5),
        ("convgru_seq_L2_bf", "convgru", 3, 4, (3, 3), 2, True, True, False, False, 2, 2, 5, 4),
        ("sepconvgru_seq_L1_state", "sepconvgru", 3, 4, (0, 0), 1, True, False, True, False, 2, 2, 6, 7),
        ("sepconvgru_seq_L2", "sepconvgru", 2, 3, (0, 0), 2, True, False, False, False, 2, 1, 5, 6),
    ]


def make_cell(kind, cin, hidden, kernel, bias, peephole, frame):
    if kind == "convlstm":
        return ConvLSTMCell(cin, hidden, kernel, bias, peephole, frame)
    return (ConvGRU if kind == "convgru" else SepConvGRU)(hidden_dim=hidden, input_dim=cin)


def seq_fixture(case):
    name, kind, cin, hidden, kernel, layers, bias, bf, has_state, peep, T, B, H, W = case
    cells = [make_cell(kind, cin if l == 0 else hidden, hidden, kernel, bias, peep, (H, W)) for l in range(layers)]
    layer = SequenceLayer(cells, bf)
    x = torch.randn(*((B, T) if bf else (T, B)), cin, H, W, requires_grad=True)
    inputs = {"input": x}
    n_states = 2 if kind == "convlstm" else 1
    if has_state:
        inputs["h0"] = torch.randn(layers, B, hidden, H, W, requires_grad=True)
        if n_states == 2:
            inputs["c0"] = torch.randn(layers, B, hidden, H, W, requires_grad=True)
        states = [tuple(inputs[k][l] for k in ("h0", "c0")[:n_states]) for l in range(layers)]
    else:
        states = [tuple(torch.zeros(B, hidden, H, W) for _ in range(n_states)) for _ in range(layers)]
    out, finals = layer(x, states)
    outputs = {"output": out, "h_n": finals[0]}
    if n_states == 2:
        outputs["c_n"] = finals[1]
    lws = {k: torch.randn(v.shape) for k, v in outputs.items()}
    sum((outputs[k] * lws[k]).sum() for k in outputs).backward()
    meta = {"kind": kind, "input_channels": str(cin), "hidden_channels": str(hidden), "kernel_h": str(kernel[0]),
            "kernel_w": str(kernel[1]), "num_layers": str(layers), "bias": str(bias).lower(),
            "batch_first": str(bf).lower(), "has_state": str(has_state).lower(), "peephole": str(peep).lower(),
            "height": str(H), "width": str(W)}
    tensors = dict(inputs)
    tensors.update(outputs)
    tensors.update({f"loss_weight.{k}": v for k, v in lws.items()})
    tensors.update({f"grad.{k}": v.grad for k, v in inputs.items()})
    for n, p in layer.named_parameters():
        assert p.grad is not None, (name, n)
        tensors[f"param.{n}"] = p
        tensors[f"grad.param.{n}"] = p.grad
    return tensors, meta


def step_cases():
    # name, kind, in, hidden, B, H, W: one step of the cell, as RAFT calls it: h = gru(h, x)
    return [
        ("convgru_step", "convgru", 5, 4, 2, 5, 6),
        ("sepconvgru_step", "sepconvgru", 5, 4, 2, 6, 7),
    ]


def step_fixture(case):
    name, kind, cin, hidden, B, H, W = case
    cell = make_cell(kind, cin, hidden, None, True, False, None)
    h = torch.randn(B, hidden, H, W, requires_grad=True)
    x = torch.randn(B, cin, H, W, requires_grad=True)
    out = cell(h, x)
    lw = torch.randn(out.shape)
    (out * lw).sum().backward()
    meta = {"kind": kind, "input_channels": str(cin), "hidden_channels": str(hidden)}
    tensors = {"h": h, "x": x, "output": out, "loss_weight.output": lw, "grad.h": h.grad, "grad.x": x.grad}
    for n, p in cell.named_parameters():
        tensors[f"param.{n}"] = p
        tensors[f"grad.param.{n}"] = p.grad
    return tensors, meta


def raft_fixture(name):
    """RAFT's update block's GRU among other RAFT keys, as `torch.save(model.state_dict())` names them."""
    hidden, cin, B, H, W = 6, 10, 1, 5, 8
    gru = SepConvGRU(hidden_dim=hidden, input_dim=cin)
    h = torch.tanh(torch.randn(B, hidden, H, W))
    x = torch.randn(B, cin, H, W)
    with torch.no_grad():
        out = gru(h, x)
    tensors = {f"update_block.gru.{n}": p.detach() for n, p in gru.named_parameters()}
    # Neighbours that share the prefix's start but not the prefix.
    tensors["update_block.encoder.convc1.weight"] = torch.randn(4, 3, 1, 1)
    tensors["update_block.flow_head.conv1.bias"] = torch.randn(4)
    tensors["fnet.conv1.weight"] = torch.randn(2, 3, 7, 7)
    tensors["h"], tensors["x"], tensors["output"] = h, x, out
    meta = {"kind": "raft", "input_channels": str(cin), "hidden_channels": str(hidden)}
    return tensors, meta


def canonicalize_header(path: Path) -> None:
    """Sort the metadata keys in the safetensors JSON header (see make_fixtures.py)."""
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    text = bytes(data[8:8 + length]).rstrip(b" ")
    header = json.loads(text)
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    new = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert len(new) == len(text), f"unexpected header layout in {path}"
    data[8:8 + len(new)] = new
    path.write_bytes(bytes(data))


def seeded(name, make):
    torch.manual_seed(zlib.crc32(name.encode("utf-8")))
    tensors, meta = make()
    return name, {k: v.detach().contiguous().float() for k, v in tensors.items()}, meta


def main() -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    results = [seeded(c[0], lambda c=c: conv_fixture(c)) for c in conv_cases()]
    results += [seeded(c[0], lambda c=c: seq_fixture(c)) for c in seq_cases()]
    results += [seeded(c[0], lambda c=c: step_fixture(c)) for c in step_cases()]
    results.append(seeded("raft_sepconvgru", lambda: raft_fixture("raft_sepconvgru")))
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    total = 0
    for name, tensors, meta in results:
        path = OUT / f"{name}.safetensors"
        save_file(tensors, str(path), metadata=meta)
        canonicalize_header(path)
        total += path.stat().st_size
        print(f"  {name:<40} {len(tensors):3d} tensors  {path.stat().st_size:7d} bytes")
    for path in OUT.iterdir():
        for key, t in load_file(str(path)).items():
            assert t.dtype == torch.float32 and bool(torch.isfinite(t).all()), (path, key)
    print(f"conv: {len(results)} files, {total} bytes")


if __name__ == "__main__":
    main()
