#!/usr/bin/env python3
"""Load a model file written by Recurrent (or anything else) into the matching PyTorch module.

Usage: python3 Tools/check_roundtrip.py MODEL.safetensors [--compare OTHER.safetensors]

Builds nn.LSTM / nn.GRU / nn.RNN from the key names and shapes (kind from the gate rows, layers,
direction, bias, projection; a `<prefix>.weight`/`.bias` pair beside the layer becomes a Linear
head), then calls load_state_dict(..., strict=True). Prints `OK: …` and exits 0, or prints the
error and exits 1. With --compare, also checks that every tensor equals OTHER's bit for bit.
"""
import argparse
import sys

import torch
from safetensors.torch import load_file


def build(tensors):
    anchors = [k for k in tensors if k.endswith("weight_ih_l0")]
    if len(anchors) != 1:
        raise ValueError(f"expected one recurrent layer, found {anchors}")
    prefix = anchors[0][: -len("weight_ih_l0")]
    w_ih, w_hh = tensors[prefix + "weight_ih_l0"], tensors[prefix + "weight_hh_l0"]
    proj = tensors[prefix + "weight_hr_l0"].shape[0] if prefix + "weight_hr_l0" in tensors else 0
    hidden = tensors[prefix + "weight_hr_l0"].shape[1] if proj else w_hh.shape[1]
    layers = sum(1 for k in tensors if k.startswith(prefix + "weight_ih_l") and not k.endswith("_reverse"))
    args = dict(input_size=w_ih.shape[1], hidden_size=hidden, num_layers=layers,
                bias=prefix + "bias_ih_l0" in tensors, bidirectional=prefix + "weight_ih_l0_reverse" in tensors)
    gates = w_ih.shape[0] // hidden
    rnn = {4: lambda: torch.nn.LSTM(proj_size=proj, **args), 3: lambda: torch.nn.GRU(**args),
           1: lambda: torch.nn.RNN(**args)}[gates]()
    others = sorted(k for k in tensors if not k.startswith(prefix) or (not prefix and "." in k))
    if not others:
        return rnn, f"{type(rnn).__name__}({args}, proj_size={proj})"
    head_prefix = others[0].rsplit(".", 1)[0]
    module = torch.nn.Module()
    setattr(module, prefix.rstrip("."), rnn)
    weight = tensors[head_prefix + ".weight"]
    setattr(module, head_prefix, torch.nn.Linear(weight.shape[1], weight.shape[0], bias=head_prefix + ".bias" in tensors))
    return module, f"{type(rnn).__name__}({args}, proj_size={proj}) + Linear{tuple(weight.shape[::-1])}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--compare")
    args = parser.parse_args()
    try:
        tensors = load_file(args.model)
        module, description = build(tensors)
        module.load_state_dict(tensors, strict=True)
        if args.compare:
            other = load_file(args.compare)
            if set(other) != set(tensors):
                raise ValueError(f"different keys: {sorted(set(other) ^ set(tensors))}")
            for key in sorted(tensors):
                a, b = tensors[key], other[key]
                if a.shape != b.shape or not torch.equal(a.view(torch.int32), b.view(torch.int32)):
                    raise ValueError(f"tensor {key} differs")
    except Exception as error:  # one line, non-zero exit
        print(f"FAILED: {args.model}: {error}".replace("\n", " "))
        sys.exit(1)
    count = sum(v.numel() for v in tensors.values())
    print(f"OK: {description}, {count} parameters, strict load{' and bit-identical' if args.compare else ''}")


if __name__ == "__main__":
    main()
