#!/usr/bin/env python3
"""Check that a model file loads into PyTorch, strictly, and optionally that it equals another.

Usage::

    python3 Tools/check_roundtrip.py MODEL.safetensors [--compare OTHER.safetensors]

MODEL is a PyTorch ``state_dict`` in safetensors form: a bare ``nn.RNN`` /
``nn.LSTM`` / ``nn.GRU`` (keys ``weight_ih_l0``, ...) or a module with a
recurrent layer and a Linear head (``rnn.weight_ih_l0``, ..., ``head.weight``,
``head.bias``), as written by ``safetensors.torch.save_file(model.state_dict())``
or by Recurrent. The script builds the matching PyTorch module from the key
names and shapes alone:

    kind            rows of weight_ih_l0 over the hidden size: 4H LSTM, 3H GRU, H RNN
    hidden size     columns of weight_hh_l0 (of weight_hr_l0 when projected)
    layers          the weight_ih_l{k} keys; bidirectional: weight_ih_l0_reverse
    projection      rows of weight_hr_l0; bias: bias_ih_l0 present
    head            <name>.weight (and <name>.bias) beside the recurrent keys

then calls ``load_state_dict(load_file(MODEL), strict=True)``. (An RNN's
nonlinearity, tanh or relu, is not stored in the file and does not matter here.)

It prints one line, ``OK: <architecture>, N parameters`` (plus the stored
dtypes when they are not all float32: PyTorch converts them silently), and exits 0, or
prints ``FAILED: ...`` with the reason and exits 1. With ``--compare``, it also
checks that OTHER holds the same keys with the same dtypes, shapes and bits,
and names the first difference.
"""

from __future__ import annotations

import argparse
import sys

import torch
from safetensors.torch import load_file
from torch import nn

ANCHOR = "weight_ih_l0"
GATES = {4: nn.LSTM, 3: nn.GRU, 1: nn.RNN}


class CheckFailed(Exception):
    pass


def build_recurrent(tensors: dict[str, torch.Tensor], prefix: str) -> nn.RNNBase:
    def get(name: str) -> torch.Tensor | None:
        return tensors.get(prefix + name)

    w_ih, w_hh, w_hr = get("weight_ih_l0"), get("weight_hh_l0"), get("weight_hr_l0")
    if w_hh is None or w_ih.dim() != 2 or w_hh.dim() != 2:
        raise CheckFailed(f"{prefix}weight_ih_l0 and {prefix}weight_hh_l0 must both be matrices")
    hidden = w_hr.shape[-1] if w_hr is not None else w_hh.shape[1]
    gates, remainder = divmod(w_ih.shape[0], hidden)
    if remainder or gates not in GATES:
        raise CheckFailed(f"{prefix}weight_ih_l0 has {w_ih.shape[0]} rows for hidden size {hidden}: "
                          "expected 4H (LSTM), 3H (GRU) or H (RNN)")
    layers = 1
    while get(f"weight_ih_l{layers}") is not None:
        layers += 1

    options = dict(num_layers=layers, bias=get("bias_ih_l0") is not None,
                   bidirectional=get("weight_ih_l0_reverse") is not None)
    if w_hr is not None:
        if GATES[gates] is not nn.LSTM:
            raise CheckFailed(f"{prefix}weight_hr_l0 (a projection) belongs to an LSTM only")
        options["proj_size"] = w_hr.shape[0]
    return GATES[gates](w_ih.shape[1], hidden, **options)


def build(tensors: dict[str, torch.Tensor]) -> tuple[nn.Module, str]:
    """The module whose state_dict should match ``tensors``, and a description of it."""
    anchors = sorted(k for k in tensors if k == ANCHOR or k.endswith("." + ANCHOR))
    if len(anchors) != 1:
        found = ", ".join(anchors) if anchors else "none"
        raise CheckFailed(f"expected one recurrent layer (a key ending in {ANCHOR}), found {found}")
    prefix = anchors[0][: -len(ANCHOR)]
    rnn = build_recurrent(tensors, prefix)
    description = f"{type(rnn).__name__}({rnn.extra_repr()})"

    heads = sorted({k[: -len(".weight")] for k in tensors
                    if k.endswith(".weight") and not k.startswith(prefix) and "." not in k[: -len(".weight")]})
    if not prefix:
        return rnn, description  # a bare layer: strict loading rejects any other key
    if len(heads) > 1:
        raise CheckFailed(f"expected at most one head beside {prefix}*, found {', '.join(heads)}")

    model = nn.Module()
    model.add_module(prefix[:-1], rnn)
    description = f"{prefix[:-1]}: {description}"
    if heads:
        name = heads[0]
        weight = tensors[name + ".weight"]
        if weight.dim() != 2:
            raise CheckFailed(f"{name}.weight must be a matrix, not {list(weight.shape)}")
        width = (2 if rnn.bidirectional else 1) * (rnn.proj_size or rnn.hidden_size)
        if weight.shape[1] != width:
            raise CheckFailed(f"{name}.weight has {weight.shape[1]} columns, "
                              f"but the recurrent layer's output has {width} features")
        bias = name + ".bias" in tensors
        model.add_module(name, nn.Linear(weight.shape[1], weight.shape[0], bias=bias))
        description += f" + {name}: Linear({weight.shape[1]}, {weight.shape[0]}{'' if bias else ', bias=False'})"
    return model, description


def strict_load(path: str) -> tuple[dict[str, torch.Tensor], str, int]:
    try:
        tensors = load_file(path)
    except Exception as error:  # missing file, bad header, ...
        raise CheckFailed(f"cannot read it: {error}") from error
    model, description = build(tensors)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        details = str(error).strip().splitlines()[1:]
        raise CheckFailed("strict load_state_dict failed for " + description + "\n"
                          + "\n".join("  " + line.strip() for line in details)) from error
    return tensors, description, sum(p.numel() for p in model.parameters())


def dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def first_difference(a: torch.Tensor, b: torch.Tensor) -> str | None:
    if a.dtype != b.dtype:
        return f"dtype {dtype_name(a)} vs {dtype_name(b)}"
    if a.shape != b.shape:
        return f"shape {list(a.shape)} vs {list(b.shape)}"
    bytes_a = a.contiguous().reshape(-1).view(torch.uint8).reshape(a.numel(), -1)
    bytes_b = b.contiguous().reshape(-1).view(torch.uint8).reshape(b.numel(), -1)
    differs = (bytes_a != bytes_b).any(dim=1)
    if not bool(differs.any()):
        return None
    flat = int(differs.nonzero()[0])
    index = list(torch.unravel_index(torch.tensor(flat), a.shape)) if a.dim() else []
    where = "[" + ", ".join(str(int(i)) for i in index) + "]"
    return (f"element {where} is {a.reshape(-1)[flat].item()!r} vs {b.reshape(-1)[flat].item()!r} "
            f"({int(differs.sum())} of {a.numel()} elements differ)")


def compare(tensors: dict[str, torch.Tensor], other_path: str) -> int:
    try:
        other = load_file(other_path)
    except Exception as error:
        raise CheckFailed(f"cannot read {other_path}: {error}") from error
    missing, extra = sorted(set(tensors) - set(other)), sorted(set(other) - set(tensors))
    if missing or extra:
        raise CheckFailed(f"{other_path} has different keys: "
                          + "; ".join(filter(None, [missing and "missing " + ", ".join(missing),
                                                    extra and "extra " + ", ".join(extra)])))
    for key in sorted(tensors):
        difference = first_difference(tensors[key], other[key])
        if difference:
            raise CheckFailed(f"{key} differs from {other_path}: {difference}")
    return len(tensors)


def main() -> int:
    parser = argparse.ArgumentParser(description="Strictly load a recurrent model file into PyTorch.")
    parser.add_argument("model", help="a state_dict saved with safetensors")
    parser.add_argument("--compare", metavar="OTHER", help="also require OTHER to be bit-identical")
    args = parser.parse_args()
    try:
        tensors, description, count = strict_load(args.model)
        dtypes = sorted({dtype_name(t) for t in tensors.values()})
        line = f"OK: {description}, {count} parameters"
        if dtypes != ["float32"]:
            line += f" (stored as {', '.join(dtypes)})"
        if args.compare:
            line += f"; bit-identical to {args.compare} ({compare(tensors, args.compare)} tensors)"
    except Exception as error:  # CheckFailed, or anything a malformed file provokes
        print(f"FAILED: {args.model}: {error}")
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
