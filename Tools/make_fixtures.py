#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures used by the Recurrent test suite.

Usage (from the repository root)::

    python3 -m pip install -r Tools/requirements.txt
    python3 Tools/make_fixtures.py

The script is deterministic: every configuration seeds ``torch.manual_seed``
with the CRC-32 of its own name, runs on the CPU with one thread in float32,
and the safetensors headers are rewritten with sorted metadata keys so that a
re-run reproduces the files byte for byte. oneDNN is disabled so that all
RNN fixtures come from PyTorch's native CPU kernels. Each run deletes and regenerates
everything listed below under ``Tests/RecurrentTests/Fixtures/``.

All tensors are contiguous float32 unless stated otherwise; scalars are stored
with shape [1]. Every file carries the string metadata ``torch_version``.

layers/<name>.safetensors
    ``nn.RNN`` (tanh / relu), ``nn.LSTM`` (optionally with ``proj_size``) and
    ``nn.GRU`` with input_size=3, hidden_size=4, seq_len=5, batch=3, dropout=0.
    Name: ``{kind}_L{layers}_{uni|bi}_{tm|bf}_{bias|nobias}_{nostate|state}[_proj]``
    for the full grid, plus ``{kind}_unbatched_L2_bi_{bias|nobias}_state``,
    ``{kind}_unbatched_L1_uni_bias_nostate``, ``lstm_unbatched_L2_bi_bias_state_proj``,
    ``{kind}_seq1_L2_bi_tm_bias_state`` and ``lstm_seq1_L1_uni_tm_bias_nostate_proj``.
    Tensors: ``param.<name>`` (state_dict), ``input``, ``h0``/``c0`` (with state),
    ``output``, ``h_n``, ``c_n`` (lstm), ``loss_weight.{output,h_n,c_n}``,
    ``loss`` where loss = sum(output*Wo) + sum(h_n*Wh) [+ sum(c_n*Wc)],
    ``grad.input``, ``grad.h0``/``grad.c0`` (with state), ``grad.param.<name>``.
    Metadata: kind, num_layers, bidirectional, batch_first, bias, has_state,
    unbatched, proj_size, input_size, hidden_size, seq_len, batch.

cells/<name>.safetensors
    ``nn.RNNCell`` (tanh / relu), ``nn.LSTMCell``, ``nn.GRUCell`` with
    input_size=3, hidden_size=4, batch=3. Name:
    ``{rnn_tanh_cell|rnn_relu_cell|lstm_cell|gru_cell}_{bias|nobias}_{state|nostate}_{batched|unbatched}``.
    Tensors: ``param.<name>``, ``input``, ``hx``/``cx`` (with state), ``h``,
    ``c`` (lstm), ``loss_weight.{h,c}``, ``loss`` = sum(h*Wh) [+ sum(c*Wc)],
    ``grad.input``, ``grad.hx``/``grad.cx`` (with state), ``grad.param.<name>``.
    Metadata: kind, bias, has_state, unbatched, input_size, hidden_size, batch.

functional.safetensors
    One file, tensors prefixed by case name: ``linear``, ``linear3d``,
    ``embedding`` (``embedding.indices`` is int64), ``softmax``, ``log_softmax``,
    ``sigmoid``, ``tanh``, ``relu``, ``cross_entropy``, ``cross_entropy_large``
    (``.targets`` are int64), ``mse`` and ``broadcast`` (z = (a + b) * c / d).
    Unless the case defines its own loss, loss = sum(y * loss_weight).

optim/<name>.safetensors
    An ``nn.LSTM(3, 5)`` followed by ``nn.Linear(5, 2)`` at every time step,
    x [6, 4, 3], target [6, 4, 2], loss = mse_loss(head(lstm(x)[0]), target),
    trained for 5 full-batch steps. Cases: sgd, sgd_momentum, sgd_nesterov,
    adam, adam_weight_decay, adamw, adamw_clip, sgd_momentum_clip.
    Tensors: ``init.<name>`` / ``final.<name>`` (``lstm.weight_ih_l0`` ...
    ``head.bias``), ``input``, ``target``, ``losses`` [5] (loss before each
    update), ``grad_norms`` [5] (clip cases only: total norm returned by
    ``clip_grad_norm_``). Metadata: optimizer, the hyperparameters of that
    optimizer (lr, momentum, dampening, nesterov, weight_decay for SGD; lr,
    beta1, beta2, eps, weight_decay for Adam/AdamW), max_norm ("none" when not
    clipping) and steps.
"""

from __future__ import annotations

import itertools
import json
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

assert torch.__version__.startswith("2.15"), f"expected torch 2.15.x, got {torch.__version__}"

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "Tests" / "RecurrentTests" / "Fixtures"
LAYERS_DIR = FIXTURES / "layers"
CELLS_DIR = FIXTURES / "cells"
OPTIM_DIR = FIXTURES / "optim"
FUNCTIONAL_FILE = FIXTURES / "functional.safetensors"

INPUT_SIZE = 3
HIDDEN_SIZE = 4
SEQ_LEN = 5
BATCH = 3
PROJ_SIZE = 2

RNN_KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------

def seed_for(name: str) -> int:
    """A stable seed derived from a configuration name (unlike ``hash()``)."""
    return zlib.crc32(name.encode("utf-8"))


def f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().float()


def scalar(t: torch.Tensor) -> torch.Tensor:
    return f32(t).reshape(1)


def flag(value: bool) -> str:
    return "true" if value else "false"


def metadata(**fields) -> dict[str, str]:
    out = {k: flag(v) if isinstance(v, bool) else str(v) for k, v in fields.items()}
    out["torch_version"] = torch.__version__
    return out


def weighted_sum(pairs) -> torch.Tensor:
    """sum(t * w) over (t, w) pairs: the loss used by most fixtures."""
    return sum((t * w).sum() for t, w in pairs)


def canonicalize_header(path: Path) -> None:
    """Sort the metadata keys in the safetensors JSON header.

    safetensors serialises ``__metadata__`` from a Rust HashMap, so its key
    order changes from run to run. Reordering keeps the header length, so the
    header is rewritten in place and the file becomes byte-reproducible.
    """
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    raw = bytes(data[8:8 + length])
    text = raw.rstrip(b" ")
    header = json.loads(text)
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    new = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert len(new) == len(text), f"unexpected header layout in {path}"
    data[8:8 + len(new)] = new
    path.write_bytes(bytes(data))


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    for key, t in tensors.items():
        assert t.is_contiguous(), key
        assert t.dtype in (torch.float32, torch.int64), (key, t.dtype)
        assert t.dim() > 0, f"{key}: scalars must be stored with shape [1]"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    canonicalize_header(path)


def param_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """``param.<name>`` and ``grad.param.<name>`` for every state_dict entry."""
    params = dict(module.named_parameters())
    state = module.state_dict()
    assert list(params) == list(state), "state_dict must hold exactly the parameters"
    out = {f"param.{n}": f32(t) for n, t in state.items()}
    out.update({f"grad.param.{n}": f32(p.grad) for n, p in params.items()})
    return out


# ----------------------------------------------------------------------------
# 1. Layers
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerConfig:
    name: str
    kind: str
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    has_state: bool
    unbatched: bool = False
    proj_size: int = 0
    seq_len: int = SEQ_LEN


def layer_configs() -> list[LayerConfig]:
    configs = []
    # Full grid (plus the LSTM projection grid).
    variants = [(kind, 0) for kind in RNN_KINDS] + [("lstm", PROJ_SIZE)]
    for (kind, proj), layers, bi, bf, bias, state in itertools.product(
        variants, (1, 2, 3), (False, True), (False, True), (True, False), (False, True)
    ):
        name = (
            f"{kind}_L{layers}_{'bi' if bi else 'uni'}_{'bf' if bf else 'tm'}"
            f"_{'bias' if bias else 'nobias'}_{'state' if state else 'nostate'}"
            f"{'_proj' if proj else ''}"
        )
        configs.append(LayerConfig(name, kind, layers, bi, bf, bias, state, proj_size=proj))
    # Unbatched input [T, I].
    for kind in RNN_KINDS:
        for bias in (True, False):
            configs.append(LayerConfig(
                f"{kind}_unbatched_L2_bi_{'bias' if bias else 'nobias'}_state",
                kind, 2, True, False, bias, True, unbatched=True))
        configs.append(LayerConfig(
            f"{kind}_unbatched_L1_uni_bias_nostate", kind, 1, False, False, True, False,
            unbatched=True))
    configs.append(LayerConfig(
        "lstm_unbatched_L2_bi_bias_state_proj", "lstm", 2, True, False, True, True,
        unbatched=True, proj_size=PROJ_SIZE))
    # Sequence length 1.
    for kind in RNN_KINDS:
        configs.append(LayerConfig(
            f"{kind}_seq1_L2_bi_tm_bias_state", kind, 2, True, False, True, True, seq_len=1))
    configs.append(LayerConfig(
        "lstm_seq1_L1_uni_tm_bias_nostate_proj", "lstm", 1, False, False, True, False,
        proj_size=PROJ_SIZE, seq_len=1))
    names = [c.name for c in configs]
    assert len(names) == len(set(names)), "duplicate layer fixture names"
    return configs


def make_layer(cfg: LayerConfig) -> nn.Module:
    common = dict(
        num_layers=cfg.num_layers, bias=cfg.bias, batch_first=cfg.batch_first,
        dropout=0.0, bidirectional=cfg.bidirectional,
    )
    if cfg.kind in ("rnn_tanh", "rnn_relu"):
        return nn.RNN(INPUT_SIZE, HIDDEN_SIZE, nonlinearity=cfg.kind[4:], **common)
    if cfg.kind == "lstm":
        return nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, proj_size=cfg.proj_size, **common)
    if cfg.kind == "gru":
        return nn.GRU(INPUT_SIZE, HIDDEN_SIZE, **common)
    raise ValueError(cfg.kind)


def layer_fixture(cfg: LayerConfig) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    torch.manual_seed(seed_for(cfg.name))
    model = make_layer(cfg)
    is_lstm = cfg.kind == "lstm"
    directions = 2 if cfg.bidirectional else 1
    h_out = cfg.proj_size or HIDDEN_SIZE

    if cfg.unbatched:
        input_shape = (cfg.seq_len, INPUT_SIZE)
        batch_dims: tuple[int, ...] = ()
    elif cfg.batch_first:
        input_shape = (BATCH, cfg.seq_len, INPUT_SIZE)
        batch_dims = (BATCH,)
    else:
        input_shape = (cfg.seq_len, BATCH, INPUT_SIZE)
        batch_dims = (BATCH,)
    x = torch.randn(*input_shape, requires_grad=True)

    inputs = {"input": x}
    state = None
    if cfg.has_state:
        h0 = torch.randn(directions * cfg.num_layers, *batch_dims, h_out, requires_grad=True)
        inputs["h0"] = h0
        state = h0
        if is_lstm:
            c0 = torch.randn(directions * cfg.num_layers, *batch_dims, HIDDEN_SIZE,
                             requires_grad=True)
            inputs["c0"] = c0
            state = (h0, c0)

    output, final = model(x, state)
    outputs = {"output": output}
    if is_lstm:
        outputs["h_n"], outputs["c_n"] = final
    else:
        outputs["h_n"] = final

    loss_weights = {k: torch.randn(v.shape) for k, v in outputs.items()}
    loss = weighted_sum((outputs[k], loss_weights[k]) for k in outputs)
    loss.backward()

    tensors = param_tensors(model)
    tensors.update({k: f32(v) for k, v in inputs.items()})
    tensors.update({k: f32(v) for k, v in outputs.items()})
    tensors.update({f"loss_weight.{k}": f32(v) for k, v in loss_weights.items()})
    tensors["loss"] = scalar(loss)
    tensors.update({f"grad.{k}": f32(v.grad) for k, v in inputs.items()})

    meta = metadata(
        kind=cfg.kind, num_layers=cfg.num_layers, bidirectional=cfg.bidirectional,
        batch_first=cfg.batch_first, bias=cfg.bias, has_state=cfg.has_state,
        unbatched=cfg.unbatched, proj_size=cfg.proj_size, input_size=INPUT_SIZE,
        hidden_size=HIDDEN_SIZE, seq_len=cfg.seq_len, batch=0 if cfg.unbatched else BATCH,
    )
    return tensors, meta


def write_layer_fixtures() -> list[Path]:
    paths = []
    for cfg in layer_configs():
        tensors, meta = layer_fixture(cfg)
        path = LAYERS_DIR / f"{cfg.name}.safetensors"
        save(path, tensors, meta)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------
# 2. Cells
# ----------------------------------------------------------------------------

CELL_KINDS = ("rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell")


def make_cell(kind: str, bias: bool) -> nn.Module:
    if kind in ("rnn_tanh_cell", "rnn_relu_cell"):
        return nn.RNNCell(INPUT_SIZE, HIDDEN_SIZE, bias=bias, nonlinearity=kind.split("_")[1])
    if kind == "lstm_cell":
        return nn.LSTMCell(INPUT_SIZE, HIDDEN_SIZE, bias=bias)
    if kind == "gru_cell":
        return nn.GRUCell(INPUT_SIZE, HIDDEN_SIZE, bias=bias)
    raise ValueError(kind)


def cell_fixture(name: str, kind: str, bias: bool, has_state: bool, unbatched: bool):
    torch.manual_seed(seed_for(name))
    cell = make_cell(kind, bias)
    is_lstm = kind == "lstm_cell"
    batch_dims = () if unbatched else (BATCH,)

    x = torch.randn(*batch_dims, INPUT_SIZE, requires_grad=True)
    inputs = {"input": x}
    state = None
    if has_state:
        inputs["hx"] = torch.randn(*batch_dims, HIDDEN_SIZE, requires_grad=True)
        state = inputs["hx"]
        if is_lstm:
            inputs["cx"] = torch.randn(*batch_dims, HIDDEN_SIZE, requires_grad=True)
            state = (inputs["hx"], inputs["cx"])

    result = cell(x, state)
    outputs = dict(zip(("h", "c"), result)) if is_lstm else {"h": result}

    loss_weights = {k: torch.randn(v.shape) for k, v in outputs.items()}
    loss = weighted_sum((outputs[k], loss_weights[k]) for k in outputs)
    loss.backward()

    tensors = param_tensors(cell)
    tensors.update({k: f32(v) for k, v in inputs.items()})
    tensors.update({k: f32(v) for k, v in outputs.items()})
    tensors.update({f"loss_weight.{k}": f32(v) for k, v in loss_weights.items()})
    tensors["loss"] = scalar(loss)
    tensors.update({f"grad.{k}": f32(v.grad) for k, v in inputs.items()})

    meta = metadata(
        kind=kind, bias=bias, has_state=has_state, unbatched=unbatched,
        input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE, batch=0 if unbatched else BATCH,
    )
    return tensors, meta


def write_cell_fixtures() -> list[Path]:
    paths = []
    for kind, bias, state, unbatched in itertools.product(
        CELL_KINDS, (True, False), (True, False), (False, True)
    ):
        name = (f"{kind}_{'bias' if bias else 'nobias'}_{'state' if state else 'nostate'}"
                f"_{'unbatched' if unbatched else 'batched'}")
        tensors, meta = cell_fixture(name, kind, bias, state, unbatched)
        path = CELLS_DIR / f"{name}.safetensors"
        save(path, tensors, meta)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------
# 3. Functional
# ----------------------------------------------------------------------------
# Each case function is called after seeding with its own name and returns the
# tensors to store (without the case prefix).

def linear_case(x_shape):
    def case():
        layer = nn.Linear(3, 5)
        x = torch.randn(*x_shape, requires_grad=True)
        y = layer(x)
        lw = torch.randn(y.shape)
        weighted_sum([(y, lw)]).backward()
        return {
            "weight": layer.weight, "bias": layer.bias, "x": x, "y": y, "loss_weight": lw,
            "grad.x": x.grad, "grad.weight": layer.weight.grad, "grad.bias": layer.bias.grad,
        }
    return case


def embedding_case():
    emb = nn.Embedding(7, 3)
    # Index 3 appears three times and 1 twice, so gradient accumulation is tested.
    indices = torch.tensor([[1, 3, 3, 6], [0, 3, 5, 1]], dtype=torch.int64)
    y = emb(indices)
    lw = torch.randn(y.shape)
    weighted_sum([(y, lw)]).backward()
    return {"indices": indices, "weight": emb.weight, "y": y, "loss_weight": lw,
            "grad.weight": emb.weight.grad}


def elementwise_case(fn):
    def case():
        x = torch.randn(3, 5, requires_grad=True)
        assert bool((x != 0).all()), "inputs must avoid the kink of relu"
        y = fn(x)
        lw = torch.randn(y.shape)
        weighted_sum([(y, lw)]).backward()
        return {"x": x, "y": y, "loss_weight": lw, "grad.x": x.grad}
    return case


def cross_entropy_case(scale):
    def case():
        if scale is None:
            logits = torch.randn(6, 5)
        else:  # uniform in [-scale, scale]: exercises the log-sum-exp shift
            logits = (torch.rand(6, 5) * 2 - 1) * scale
        logits.requires_grad_(True)
        targets = torch.randint(0, 5, (6,), dtype=torch.int64)
        loss = F.cross_entropy(logits, targets)
        loss.backward()
        return {"logits": logits, "targets": targets, "loss": loss.reshape(1),
                "grad.logits": logits.grad}
    return case


def mse_case():
    prediction = torch.randn(4, 3, requires_grad=True)
    target = torch.randn(4, 3)
    loss = F.mse_loss(prediction, target)
    loss.backward()
    return {"prediction": prediction, "target": target, "loss": loss.reshape(1),
            "grad.prediction": prediction.grad}


def broadcast_case():
    a = torch.randn(2, 3, 4, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    c = torch.randn(3, 1, requires_grad=True)
    d = (torch.rand(1, 4) + 0.5).requires_grad_(True)
    z = (a + b) * c / d
    lw = torch.randn(z.shape)
    weighted_sum([(z, lw)]).backward()
    return {"a": a, "b": b, "c": c, "d": d, "z": z, "loss_weight": lw,
            "grad.a": a.grad, "grad.b": b.grad, "grad.c": c.grad, "grad.d": d.grad}


FUNCTIONAL_CASES = {
    "linear": linear_case((4, 3)),
    "linear3d": linear_case((2, 4, 3)),
    "embedding": embedding_case,
    "softmax": elementwise_case(lambda x: torch.softmax(x, dim=-1)),
    "log_softmax": elementwise_case(lambda x: torch.log_softmax(x, dim=-1)),
    "sigmoid": elementwise_case(torch.sigmoid),
    "tanh": elementwise_case(torch.tanh),
    "relu": elementwise_case(torch.relu),
    "cross_entropy": cross_entropy_case(None),
    "cross_entropy_large": cross_entropy_case(50.0),
    "mse": mse_case,
    "broadcast": broadcast_case,
}


def write_functional_fixtures() -> list[Path]:
    tensors = {}
    for case_name, case in FUNCTIONAL_CASES.items():
        torch.manual_seed(seed_for(f"functional.{case_name}"))
        for key, t in case().items():
            tensors[f"{case_name}.{key}"] = t.detach().contiguous() if t.dtype == torch.int64 else f32(t)
    save(FUNCTIONAL_FILE, tensors, metadata())
    return [FUNCTIONAL_FILE]


# ----------------------------------------------------------------------------
# 4. Optimizers
# ----------------------------------------------------------------------------

OPTIM_STEPS = 5
OPTIM_SEED_NAME = "optim.problem"


class LSTMRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


@dataclass(frozen=True)
class OptimConfig:
    name: str
    optimizer: str  # "sgd" | "adam" | "adamw"
    kwargs: dict
    max_norm: float | None = None


OPTIM_CONFIGS = [
    OptimConfig("sgd", "sgd", dict(lr=0.1)),
    OptimConfig("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    OptimConfig("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True, dampening=0)),
    OptimConfig("adam", "adam", dict(lr=0.01)),
    OptimConfig("adam_weight_decay", "adam",
                dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    OptimConfig("adamw", "adamw", dict(lr=0.01)),
    OptimConfig("adamw_clip", "adamw", dict(lr=0.01, weight_decay=0.1), max_norm=0.5),
    OptimConfig("sgd_momentum_clip", "sgd", dict(lr=0.1, momentum=0.9), max_norm=0.1),
]

OPTIMIZER_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def optimizer_metadata(cfg: OptimConfig, group: dict) -> dict[str, str]:
    """Hyperparameters as PyTorch resolved them (defaults included)."""
    if cfg.optimizer == "sgd":
        hyper = {k: group[k] for k in ("lr", "momentum", "dampening", "nesterov", "weight_decay")}
    else:
        hyper = {"lr": group["lr"], "beta1": group["betas"][0], "beta2": group["betas"][1],
                 "eps": group["eps"], "weight_decay": group["weight_decay"]}
    hyper = {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
             for k, v in hyper.items()}
    return metadata(
        optimizer=cfg.optimizer, **hyper,
        max_norm="none" if cfg.max_norm is None else float(cfg.max_norm),
        steps=OPTIM_STEPS,
    )


def optim_fixture(cfg: OptimConfig):
    # Same seed for every case: identical initial weights, input and target.
    torch.manual_seed(seed_for(OPTIM_SEED_NAME))
    model = LSTMRegressor()
    x = torch.randn(6, 4, 3)
    target = torch.randn(6, 4, 2)

    # clone(): the optimizer updates the parameters in place.
    tensors = {f"init.{n}": f32(t).clone() for n, t in model.state_dict().items()}
    optimizer = OPTIMIZER_CLASSES[cfg.optimizer](model.parameters(), **cfg.kwargs)
    losses, grad_norms = [], []
    for _ in range(OPTIM_STEPS):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), target)
        loss.backward()
        losses.append(loss.detach())
        if cfg.max_norm is not None:
            grad_norms.append(nn.utils.clip_grad_norm_(model.parameters(), cfg.max_norm))
        optimizer.step()

    tensors["input"] = f32(x)
    tensors["target"] = f32(target)
    tensors["losses"] = f32(torch.stack(losses))
    if grad_norms:
        tensors["grad_norms"] = f32(torch.stack(grad_norms))
    tensors.update({f"final.{n}": f32(t) for n, t in model.state_dict().items()})
    return tensors, optimizer_metadata(cfg, optimizer.param_groups[0])


def write_optim_fixtures() -> list[Path]:
    paths = []
    for cfg in OPTIM_CONFIGS:
        tensors, meta = optim_fixture(cfg)
        path = OPTIM_DIR / f"{cfg.name}.safetensors"
        save(path, tensors, meta)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def clean_outputs() -> None:
    for folder in (LAYERS_DIR, CELLS_DIR, OPTIM_DIR):
        shutil.rmtree(folder, ignore_errors=True)
    FUNCTIONAL_FILE.unlink(missing_ok=True)


def verify(paths: list[Path]) -> None:
    """Reload every file; print a couple as a spot check."""
    for path in paths:
        tensors = load_file(str(path))
        assert tensors, path
        for key, t in tensors.items():
            assert t.dtype in (torch.float32, torch.int64), (path, key)
            assert bool(torch.isfinite(t.float()).all()), (path, key)
    for path in (LAYERS_DIR / "lstm_L2_bi_bf_nobias_state_proj.safetensors",
                 OPTIM_DIR / "adamw_clip.safetensors"):
        tensors = load_file(str(path))
        print(f"  {path.relative_to(REPO_ROOT)}: {len(tensors)} tensors, e.g. "
              + ", ".join(f"{k}{list(tensors[k].shape)}" for k in list(tensors)[:4]))


def main() -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    # Use PyTorch's native CPU RNN kernels rather than oneDNN: the same code path
    # for every LSTM (oneDNN has no projection support) and no dependence on
    # the host CPU's instruction set.
    torch.backends.mkldnn.enabled = False
    clean_outputs()

    paths = []
    for family, writer in (("layers", write_layer_fixtures), ("cells", write_cell_fixtures),
                           ("functional", write_functional_fixtures),
                           ("optim", write_optim_fixtures)):
        written = writer()
        size = sum(p.stat().st_size for p in written)
        print(f"{family:>10}: {len(written):4d} files, {size:9d} bytes")
        paths.extend(written)

    total = sum(p.stat().st_size for p in paths)
    print(f"{'total':>10}: {len(paths):4d} files, {total:9d} bytes")
    verify(paths)
    print("verified: all files reload with safetensors.torch.load_file")


if __name__ == "__main__":
    main()
