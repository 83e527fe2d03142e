#!/usr/bin/env python3
"""Generate the PyTorch model files used to test `recurrent run` and `recurrent fit`.

Usage (from any directory)::

    python3 -m pip install -r Tools/requirements.txt
    python3 Tools/make_interop_fixtures.py

Each run deletes and regenerates ``Tests/RecurrentTests/Fixtures/interop/``. The
script is deterministic: every case seeds ``torch.manual_seed`` with the CRC-32
of its name, runs on the CPU with one thread and oneDNN disabled, and the
safetensors headers that carry metadata are rewritten with sorted keys, so a
re-run reproduces every file byte for byte.

Models
    A bare ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (state_dict keys ``weight_ih_l0``,
    ...), or a wrapper module with attributes ``rnn`` (the recurrent layer) and
    ``head`` (``nn.Linear(D * Hout, 2)`` applied to the output at every time
    step, ``prediction = head(output)``; keys ``rnn.weight_ih_l0``, ...,
    ``head.weight``, ``head.bias``). Sizes: input I=3, hidden H=4, projection
    P=2, sequence T=5, batch B=3. Default (seeded) PyTorch initialisation,
    dropout 0, eval mode.

Run cases (78)
    ``{kind}_L{1|2}_{uni|bi}_{tm|bf}_{head|nohead}`` for kind in rnn_tanh,
    rnn_relu, lstm, gru (64, with bias, no initial state), and per kind
    ``{kind}_L2_bi_tm_nohead_state`` (h0, and c0 for LSTM),
    ``{kind}_L1_uni_tm_head_nobias`` and ``{kind}_unbatched_L1_uni_head``; plus
    ``lstm_proj_L2_bi_tm_head`` and ``lstm_proj_L1_uni_bf_nohead_state`` (P=2).

Files of a case ``<case>``
    <case>.model.safetensors
        ``save_file(model.state_dict(), path)`` exactly as a user would: no metadata.
    <case>.input.npy
        float32, [T, B, I]; [B, T, I] when batch_first; [T, I] when unbatched.
    <case>.h0.npy, <case>.c0.npy
        initial states (cases with state): [D*L, B, Hout] and [D*L, B, H]
        (no B axis when unbatched); c0 for LSTMs only.
    <case>.run.safetensors
        under ``torch.no_grad()``: ``output``, ``h_n``, ``c_n`` (LSTM) and
        ``prediction`` (with a head). Metadata: kind (rnn|lstm|gru),
        nonlinearity (tanh|relu; tanh unless RNN), batch_first, has_head,
        has_h0, unbatched ("true"/"false") and torch_version.

Fit cases (8 files)
    <case>.target.npy
        float32 randn with the shape of ``prediction`` (with a head) or ``output``.
    <case>.fit_<opt>.safetensors
        the model's state_dict (same keys as the model file) after ``steps``
        full-batch updates starting from ``<case>.model.safetensors``, in train
        mode::

            opt.zero_grad()
            loss = F.mse_loss(head(rnn(x, h0...)[0]) or rnn(x, h0...)[0], target)
            loss.backward()
            clip_grad_norm_(model.parameters(), C)   # only when clipping
            opt.step()

        Metadata: optimizer (sgd|adam|adamw), lr, momentum (0.0 unless SGD),
        weight_decay, steps, clip_grad_norm ("none" or C), losses (the loss of
        each step before its update, comma-separated ``repr`` of Python
        floats) and torch_version. Adam/AdamW use PyTorch's default betas
        (0.9, 0.999) and eps 1e-8; SGD has no dampening and no Nesterov.

        lstm_L1_uni_tm_head             sgd (lr 0.1, momentum 0.9), adam (lr 0.01),
                                        adamw (lr 0.01, weight_decay 0.1, clip 0.2); 5 steps
        gru_L2_bi_bf_nohead             sgd (lr 0.05, weight_decay 0.01), adam (lr 0.005); 4 steps
        rnn_tanh_L2_bi_tm_nohead_state  sgd (lr 0.1, momentum 0.5), adam (lr 0.01); 3 steps, with h0
        lstm_proj_L2_bi_tm_head         adam (lr 0.01); 3 steps
"""

from __future__ import annotations

import copy
import json
import shutil
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

assert torch.__version__.startswith("2.15"), f"expected torch 2.15.x, got {torch.__version__}"

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "Tests" / "RecurrentTests" / "Fixtures" / "interop"

INPUT_SIZE = 3    # I
HIDDEN_SIZE = 4   # H
PROJ_SIZE = 2     # P
SEQ_LEN = 5       # T
BATCH = 3         # B
HEAD_OUTPUTS = 2

KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    optimizer: str  # "sgd" | "adam" | "adamw"
    lr: float
    steps: int
    momentum: float = 0.0  # SGD only
    weight_decay: float = 0.0
    clip: float | None = None


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # one of KINDS
    layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    head: bool = False
    state: bool = False
    bias: bool = True
    proj: int = 0
    unbatched: bool = False
    fits: tuple[Fit, ...] = ()

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        return self.proj or HIDDEN_SIZE

    @property
    def is_lstm(self) -> bool:
        return self.kind == "lstm"


FITS = {
    "lstm_L1_uni_tm_head": (
        Fit("sgd", lr=0.1, momentum=0.9, steps=5),
        Fit("adam", lr=0.01, steps=5),
        # clip 0.2: the gradient norms are 0.31, 0.27, 0.24, 0.21, 0.18, so it
        # acts on the first four steps only (0.5 would never act).
        Fit("adamw", lr=0.01, weight_decay=0.1, clip=0.2, steps=5),
    ),
    "gru_L2_bi_bf_nohead": (
        Fit("sgd", lr=0.05, weight_decay=0.01, steps=4),
        Fit("adam", lr=0.005, steps=4),
    ),
    "rnn_tanh_L2_bi_tm_nohead_state": (
        Fit("sgd", lr=0.1, momentum=0.5, steps=3),
        Fit("adam", lr=0.01, steps=3),
    ),
    "lstm_proj_L2_bi_tm_head": (Fit("adam", lr=0.01, steps=3),),
}


def grid_name(kind: str, layers: int, bidirectional: bool, batch_first: bool, head: bool) -> str:
    return (f"{kind}_L{layers}_{'bi' if bidirectional else 'uni'}_{'bf' if batch_first else 'tm'}"
            f"_{'head' if head else 'nohead'}")


def cases() -> list[Case]:
    out = []
    for kind in KINDS:
        for layers in (1, 2):
            for bidirectional in (False, True):
                for batch_first in (False, True):
                    for head in (False, True):
                        name = grid_name(kind, layers, bidirectional, batch_first, head)
                        out.append(Case(name, kind, layers, bidirectional, batch_first, head))
    for kind in KINDS:
        out.append(Case(f"{kind}_L2_bi_tm_nohead_state", kind, layers=2, bidirectional=True, state=True))
        out.append(Case(f"{kind}_L1_uni_tm_head_nobias", kind, head=True, bias=False))
        out.append(Case(f"{kind}_unbatched_L1_uni_head", kind, head=True, unbatched=True))
    out.append(Case("lstm_proj_L2_bi_tm_head", "lstm", layers=2, bidirectional=True, head=True,
                    proj=PROJ_SIZE))
    out.append(Case("lstm_proj_L1_uni_bf_nohead_state", "lstm", batch_first=True, state=True,
                    proj=PROJ_SIZE))

    names = [c.name for c in out]
    assert len(names) == len(set(names)), "duplicate case names"
    assert set(FITS) <= set(names), "a fit case is not a run case"
    return [replace(c, fits=FITS.get(c.name, ())) for c in out]


# ----------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------

class WithHead(nn.Module):
    """The recurrent layer followed by a Linear head at every time step."""

    def __init__(self, rnn: nn.RNNBase, outputs: int):
        super().__init__()
        self.rnn = rnn
        width = (2 if rnn.bidirectional else 1) * (rnn.proj_size or rnn.hidden_size)
        self.head = nn.Linear(width, outputs)


def make_model(case: Case) -> nn.Module:
    common = dict(num_layers=case.layers, bias=case.bias, batch_first=case.batch_first,
                  dropout=0.0, bidirectional=case.bidirectional)
    if case.kind in ("rnn_tanh", "rnn_relu"):
        rnn = nn.RNN(INPUT_SIZE, HIDDEN_SIZE, nonlinearity=case.kind[4:], **common)
    elif case.kind == "lstm":
        rnn = nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, proj_size=case.proj, **common)
    elif case.kind == "gru":
        rnn = nn.GRU(INPUT_SIZE, HIDDEN_SIZE, **common)
    else:
        raise ValueError(case.kind)
    return WithHead(rnn, HEAD_OUTPUTS) if case.head else rnn


def make_inputs(case: Case) -> dict[str, torch.Tensor]:
    """``input``, and ``h0`` / ``c0`` for cases with state, in PyTorch's shapes."""
    if case.unbatched:
        shape, batch = (SEQ_LEN, INPUT_SIZE), ()
    elif case.batch_first:
        shape, batch = (BATCH, SEQ_LEN, INPUT_SIZE), (BATCH,)
    else:
        shape, batch = (SEQ_LEN, BATCH, INPUT_SIZE), (BATCH,)
    inputs = {"input": torch.randn(*shape)}
    if case.state:
        lead = (case.directions * case.layers, *batch)
        inputs["h0"] = torch.randn(*lead, case.h_out)
        if case.is_lstm:
            inputs["c0"] = torch.randn(*lead, HIDDEN_SIZE)
    return inputs


def forward(model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``output``, ``h_n``, ``c_n`` (LSTM) and ``prediction`` (with a head)."""
    rnn = model.rnn if isinstance(model, WithHead) else model
    is_lstm = isinstance(rnn, nn.LSTM)
    state = None
    if "h0" in inputs:
        state = (inputs["h0"], inputs["c0"]) if is_lstm else inputs["h0"]
    output, final = rnn(inputs["input"], state)
    result = {"output": output}
    if is_lstm:
        result["h_n"], result["c_n"] = final
    else:
        result["h_n"] = final
    if isinstance(model, WithHead):
        result["prediction"] = model.head(output)
    return result


def trained_output(result: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the loss compares with the target: the prediction if there is a head."""
    return result.get("prediction", result["output"])


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------

def flag(value: bool) -> str:
    return "true" if value else "false"


def canonicalize_header(path: Path) -> None:
    """Sort the ``__metadata__`` keys of a safetensors header, in place.

    safetensors serialises the metadata from a Rust HashMap, so the key order
    changes from run to run; sorting keeps the header's length and makes the
    file byte-reproducible. (Same idea as in ``Tools/make_fixtures.py``.)
    """
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    text = bytes(data[8:8 + length]).rstrip(b" ")
    header = json.loads(text)
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    new = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert len(new) == len(text), f"unexpected header layout in {path}"
    data[8:8 + len(new)] = new
    path.write_bytes(bytes(data))


def save_with_metadata(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    assert all(t.dtype == torch.float32 for t in tensors.values()), path
    save_file(tensors, str(path), metadata={**meta, "torch_version": torch.__version__})
    canonicalize_header(path)


def save_npy(path: Path, t: torch.Tensor) -> None:
    assert t.dtype == torch.float32, path
    np.save(path, t.detach().contiguous().numpy())


def run_metadata(case: Case) -> dict[str, str]:
    return {
        "kind": case.kind.split("_")[0],
        "nonlinearity": case.kind[4:] if case.kind.startswith("rnn_") else "tanh",
        "batch_first": flag(case.batch_first),
        "has_head": flag(case.head),
        "has_h0": flag(case.state),
        "unbatched": flag(case.unbatched),
    }


# ----------------------------------------------------------------------------
# Fine-tuning
# ----------------------------------------------------------------------------

def fine_tune(initial: nn.Module, inputs: dict[str, torch.Tensor], target: torch.Tensor,
              fit: Fit) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Full-batch steps from a copy of ``initial``: the final state_dict and the metadata."""
    model = copy.deepcopy(initial)
    model.train()  # dropout is 0: identical to eval mode
    options = dict(lr=fit.lr, weight_decay=fit.weight_decay)
    if fit.optimizer == "sgd":
        options["momentum"] = fit.momentum
    else:
        assert fit.momentum == 0.0, "momentum is an SGD option"
    optimizer = OPTIMIZERS[fit.optimizer](model.parameters(), **options)

    losses = []
    for _ in range(fit.steps):
        optimizer.zero_grad()
        loss = F.mse_loss(trained_output(forward(model, inputs)), target)
        loss.backward()
        if fit.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), fit.clip)
        optimizer.step()
        losses.append(loss.item())

    group = optimizer.param_groups[0]
    meta = {
        "optimizer": fit.optimizer,
        "lr": repr(float(group["lr"])),
        "momentum": repr(float(group.get("momentum", 0.0))),
        "weight_decay": repr(float(group["weight_decay"])),
        "steps": str(fit.steps),
        "clip_grad_norm": "none" if fit.clip is None else repr(float(fit.clip)),
        "losses": ",".join(repr(v) for v in losses),
    }
    return model.state_dict(), meta


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def write_case(case: Case) -> list[Path]:
    torch.manual_seed(zlib.crc32(case.name.encode("utf-8")))
    model = make_model(case).eval()
    inputs = make_inputs(case)
    paths = []

    def path(suffix: str) -> Path:
        paths.append(OUT / f"{case.name}.{suffix}")
        return paths[-1]

    save_file(model.state_dict(), str(path("model.safetensors")))
    save_npy(path("input.npy"), inputs["input"])
    for key in ("h0", "c0"):
        if key in inputs:
            save_npy(path(f"{key}.npy"), inputs[key])

    with torch.no_grad():
        result = forward(model, inputs)
    save_with_metadata(path("run.safetensors"), result, run_metadata(case))

    if case.fits:
        target = torch.randn(trained_output(result).shape)
        save_npy(path("target.npy"), target)
        for fit in case.fits:
            state, meta = fine_tune(model, inputs, target, fit)
            save_with_metadata(path(f"fit_{fit.optimizer}.safetensors"), state, meta)
    return paths


def verify(case: Case) -> None:
    """Rebuild the model from its file and rerun it: the run file must match exactly."""
    model = make_model(case).eval()
    model.load_state_dict(load_file(str(OUT / f"{case.name}.model.safetensors")), strict=True)
    inputs = {key: torch.from_numpy(np.load(OUT / f"{case.name}.{key}.npy"))
              for key in ("input", "h0", "c0") if (OUT / f"{case.name}.{key}.npy").exists()}
    with torch.no_grad():
        result = forward(model, inputs)
    expected = load_file(str(OUT / f"{case.name}.run.safetensors"))
    assert expected.keys() == result.keys(), case.name
    for key, t in expected.items():
        assert torch.equal(t, result[key]), (case.name, key)
        assert bool(torch.isfinite(t).all()), (case.name, key)


def main() -> None:
    torch.set_num_threads(1)
    # PyTorch's native CPU RNN kernels, not oneDNN (which has no projection
    # support): one code path for every case, independent of the host CPU.
    torch.backends.mkldnn.enabled = False

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)

    all_cases = cases()
    paths = [p for case in all_cases for p in write_case(case)]
    for case in all_cases:
        verify(case)

    fit_files = sum(len(c.fits) for c in all_cases)
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(all_cases)} run cases, {fit_files} fit files: {len(paths)} files, {size} bytes "
          f"in {OUT.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
