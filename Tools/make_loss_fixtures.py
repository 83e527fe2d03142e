#!/usr/bin/env python3
"""PyTorch references for the losses' reductions and cross-entropy's ignore_index.

Usage (from the repository root)::

    python3 -m pip install -r Tools/requirements.txt
    python3 Tools/make_loss_fixtures.py

Writes ``Tests/RecurrentTests/Fixtures/losses/<name>.safetensors``, each with ``input`` (logits
``[N, C]`` or predictions ``[N, K]``), ``target`` (class indices, or values, as float32),
``output`` (the loss: a scalar stored as ``[1]``, or ``[N]`` / ``[N, K]`` for ``reduction='none'``),
``loss_weight`` (for 'none': the weights of ``sum(output * loss_weight)``, the scalar that is
differentiated; absent otherwise) and ``grad.input``. Metadata: ``loss`` (cross_entropy / mse),
``reduction``, ``ignore_index`` (an integer, or ``none``), ``torch_version``.

Cases: cross-entropy with mean, sum and none, each without and with ignore_index (-100, and 2, a
real class), one case with every target ignored (mean gives NaN in PyTorch, and its gradient is
zero); MSE with mean, sum and none.
"""

import zlib
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "Tests" / "RecurrentTests" / "Fixtures" / "losses"


def case(name: str, loss: str, reduction: str, ignore_index=None, all_ignored=False):
    torch.manual_seed(zlib.crc32(name.encode()))
    n, c = 6, 5
    x = torch.randn(n, c, requires_grad=True)
    if loss == "cross_entropy":
        target = torch.randint(0, c, (n,))
        if ignore_index is not None:
            target[1] = ignore_index
            target[4] = ignore_index
            if all_ignored:
                target[:] = ignore_index
        kwargs = {"reduction": reduction}
        if ignore_index is not None:
            kwargs["ignore_index"] = ignore_index
        out = torch.nn.functional.cross_entropy(x, target, **kwargs)
    else:
        target = torch.randn(n, c)
        out = torch.nn.functional.mse_loss(x, target, reduction=reduction)
    tensors = {"input": x.detach().clone(), "target": target.float()}
    if reduction == "none":
        weight = torch.randn(out.shape)
        (out * weight).sum().backward()
        tensors["loss_weight"] = weight
    else:
        out.backward()
    tensors["output"] = out.detach().reshape(-1) if out.dim() == 0 else out.detach()
    tensors["grad.input"] = x.grad.detach()
    meta = {"loss": loss, "reduction": reduction, "ignore_index": "none" if ignore_index is None else str(ignore_index),
            "torch_version": torch.__version__.split("+")[0]}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / f"{name}.safetensors"), metadata=meta)


def main() -> None:
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.safetensors"):
        old.unlink()
    for reduction in ["mean", "sum", "none"]:
        case(f"ce_{reduction}", "cross_entropy", reduction)
        case(f"ce_{reduction}_ignore_pad", "cross_entropy", reduction, ignore_index=-100)
        case(f"ce_{reduction}_ignore_class", "cross_entropy", reduction, ignore_index=2)
        case(f"mse_{reduction}", "mse", reduction)
    case("ce_mean_all_ignored", "cross_entropy", "mean", ignore_index=-100, all_ignored=True)


if __name__ == "__main__":
    main()
