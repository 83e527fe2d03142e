#!/usr/bin/env python3
"""Generate reference fixtures for LSTM / GRU / RNN variants (peephole, coupled
gate, clip, ONNX activations, GRU without reset-after, layer norm).

Usage (from any directory)::

    python3 -m pip install -r Tools/requirements.txt
    python3 Tools/make_variant_fixtures.py

Each run deletes and regenerates ``Tests/RecurrentTests/Fixtures/variants/``
and nothing else. The script is deterministic: every case seeds
``torch.manual_seed`` with the CRC-32 of its name, runs on the CPU with one
thread in float32 (ONNX Runtime with one intra- and one inter-op thread), and
the safetensors headers are rewritten with sorted metadata keys, so a re-run
on the same machine reproduces every file byte for byte. (ONNX Runtime's MLAS
kernels are picked by CPU, so the ``onnx.*`` tensors may differ in the last
bits on another CPU.)

Two references per case
    1. A PyTorch reference written below from the equations (plain tensor
       ops, autograd for the gradients): every case.
    2. ONNX Runtime: every case ONNX can express (no layer norm, no
       projection). One LSTM/GRU/RNN node per layer (layout 0), Y [T,D,B,H]
       turned into [T,B,D*H] by Transpose + Reshape before the next layer,
       Y_h / Y_c of the layers concatenated into [L*D,B,H]. Before writing
       anything the script asserts that ONNX Runtime agrees with reference 1:
       |ort - ref| <= ORT_TOLERANCE * max(1, |ref|) element-wise
       (ORT_TOLERANCE = 1e-5) for output, h_n and c_n.

Equations (a = pre-activation, f/g/h = ONNX's activations of the direction,
default Sigmoid, Tanh, Tanh; clip(a) = clamp(a, -clip, clip) when clip is set,
applied to every gate pre-activation after the bias and peephole terms, never
to the cell state)
    LSTM  a = x W_ih^T + b_ih + h W_hh^T + b_hh, split into a_i, a_f, a_g, a_o;
          i = f(clip(a_i + p_i*c)); forget = 1 - i (input_forget, after the
          activation; the f rows of the weights and p_f are then unused and
          get zero gradient) else f(clip(a_f + p_f*c)); g = g(clip(a_g));
          c' = forget*c + i*g; o = f(clip(a_o + p_o*c')); m = o * h(c');
          h' = m W_hr^T with projection, else m.
    GRU   r = f(clip(gx_r + gh_r)), z = f(clip(gx_z + gh_z)),
          reset_after:      n = g(clip(gx_n + r*(h W_hn^T + b_hn)))  (ONNX linear_before_reset=1)
          not reset_after:  n = g(clip(gx_n + (r*h) W_hn^T + b_hn))  (linear_before_reset=0)
          h' = (1-z)*n + z*h.
    RNN   h' = f(clip(x W_ih^T + b_ih + h W_hh^T + b_hh)).
    Layer norm, LN(v; w, b) = w*(v-mean)/sqrt(var+1e-5) + b over the last axis
    (all G*H columns jointly, biased variance); b = 0 when bias is false.
          LSTM  a = LN(x W_ih^T; ln_weight_ih, bias_ih) + LN(h W_hh^T; ln_weight_hh, bias_hh);
                i,f,g,o = sigmoid, sigmoid, tanh, sigmoid of a; c' = f*c + i*g
                (unnormalised); m = o * tanh(LN(c'; ln_weight_c, ln_bias_c));
                projection as above.
          GRU   ax = LN(x W_ih^T; ln_weight_ih, bias_ih), ah = LN(h W_hh^T; ln_weight_hh, bias_hh);
                r = sigmoid(ax_r+ah_r), z = sigmoid(ax_z+ah_z), n = tanh(ax_n + r*ah_n),
                h' = (1-z)*n + z*h.
    Activations (alpha, beta): Sigmoid, Tanh, Relu, Affine a*x+b, LeakyRelu
    (x if x >= 0 else a*x), ThresholdedRelu (x if x > a else 0), ScaledTanh
    a*tanh(b*x), HardSigmoid max(0, min(1, a*x+b)), Elu (x if x >= 0 else
    a*(exp(x)-1)), Softsign x/(1+|x|), Softplus log(1+exp(x)).
    Multi-layer: layer l reads the concatenated outputs of both directions of
    layer l-1; the reverse direction runs the sequence backwards; state index
    l*D+d. No dropout. The script asserts that every pre-activation is at least
    KINK_MARGIN = 1e-4 away from a kink or jump of its activation (and from
    +-clip), and that every clip case clamps some pre-activations.

ONNX Runtime behaviour (onnxruntime 1.32.0; found by contrast runs against
alternatives, and guarded by the cross-check of the cases below)
    * ``activation_alpha`` / ``activation_beta`` are consumed packed, by LSTM,
      GRU and RNN alike: walking the activations in order (f, g, h of
      direction 0, then of direction 1), an activation that takes alpha
      (Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu) takes
      the next alpha, one that takes beta (Affine, ScaledTanh, HardSigmoid) the
      next beta; Sigmoid, Tanh, Relu, Softsign and Softplus take none. When a
      list runs out the defaults are LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu
      1.0 and 0 for everything else (ThresholdedRelu defaults to 0, not to the
      1.0 of the ONNX operator; Affine and ScaledTanh to 0). The
      ``act_defaults`` cases omit both attributes.
    * The coupled gate is forget = 1 - i after the activation (not f(-a_i));
      the forget rows of W, R, B and p_f are ignored.
    * clip is applied after adding the biases and the peephole term, to the
      whole pre-activation of every gate (GRU: to gx_n + r*(h W_hn^T + b_hn)
      when linear_before_reset=1); the cell state is not clipped before h().

Sizes: input_size=3, hidden_size=4, seq_len=5, batch=3 unless the name ends in
``_h37`` (input_size=5, hidden_size=37); proj_size 2 in ``_proj`` cases.

variants/<case>.safetensors
    Name: ``{kind}_{variant}_L{layers}_{uni|bi}_{tm|bf}_{bias|nobias}_{state|nostate}[_h37]``
    where variant is one of peephole, coupled, coupled_peephole,
    peephole_proj, clip, peephole_clip, coupled_peephole_clip, act1..act4,
    act_defaults, act_peephole_clip (lstm); resetbefore, resetbefore_clip_act,
    resetbefore_act, act, clip, act_clip (gru); act1..act4, clip, act_clip
    (rnn); ln, ln_proj (lstm, gru). ``CASES`` below lists them.
    Tensors (float32, scalars with shape [1]):
      ``param.<name>``       every parameter, names below (l = layer, s = "" or
                             "_reverse"; G = 4 (lstm i,f,g,o), 3 (gru r,z,n), 1 (rnn);
                             Ho = proj_size or hidden_size; I_l = input_size for
                             l = 0, else D*Ho):
                               weight_ih_l{l}{s} [G*H, I_l], weight_hh_l{l}{s} [G*H, Ho],
                               bias_ih_l{l}{s}, bias_hh_l{l}{s} [G*H] (bias only),
                               weight_hr_l{l}{s} [P, H] (projection only),
                               weight_peephole_l{l}{s} [3H], order i, f, o (peephole only),
                               ln_weight_ih_l{l}{s}, ln_weight_hh_l{l}{s} [G*H],
                               ln_weight_c_l{l}{s}, ln_bias_c_l{l}{s} [H] (layer-norm LSTM;
                               ln_bias_c exists with and without bias).
                             Draws: U(-1/sqrt(H), 1/sqrt(H)); peephole and ln_bias_c
                             U(-0.5, 0.5); LN gains U(0.5, 1.5).
      ``input``              randn [T, B, I], [B, T, I] when batch_first.
      ``h0``, ``c0``         randn [D*L, B, Ho], [D*L, B, H] (has_state; c0 for lstm).
      ``output``             [T, B, D*Ho] ([B, T, D*Ho] when batch_first).
      ``h_n``                [D*L, B, Ho].
      ``c_n``                [D*L, B, H] (lstm).
      ``loss_weight.output``, ``loss_weight.h_n``, ``loss_weight.c_n`` (lstm): randn.
      ``loss``               [1], sum(output*Wo) + sum(h_n*Wh) [+ sum(c_n*Wc)].
      ``grad.input``, ``grad.h0``, ``grad.c0`` (has_state), ``grad.param.<name>``
                             (every parameter, zero rows included).
      ``onnx.output``, ``onnx.h_n``, ``onnx.c_n`` (lstm): ONNX Runtime's results in
                             the shapes of output, h_n, c_n (has_onnx only).
    Metadata (strings): kind (lstm|gru|rnn), num_layers, bidirectional,
    batch_first, bias, has_state, proj_size, input_size, hidden_size, seq_len,
    batch, peephole, input_forget, layer_norm, reset_after (gru only; "true" is
    the PyTorch form), clip ("none" or the value), activations (comma list of
    ONNX names, all roles of all directions: lstm f,g,h per direction, gru f,g,
    rnn f; defaults included, the same for every layer), activation_alpha and
    activation_beta (comma lists of the same length: the value used for each
    entry, "0" where the activation takes none), has_onnx, torch_version, and
    onnxruntime_version (has_onnx only).
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import load_file, save_file

assert torch.__version__.startswith("2.15"), f"expected torch 2.15.x, got {torch.__version__}"

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "Tests" / "RecurrentTests" / "Fixtures" / "variants"

SEQ_LEN = 5
BATCH = 3
LN_EPS = 1e-5
ORT_TOLERANCE = 1e-5
KINK_MARGIN = 1e-4
OPSET = 17

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


# ----------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------

# ONNX name -> (takes alpha, takes beta)
TAKES = {
    "Sigmoid": (False, False), "Tanh": (False, False), "Relu": (False, False),
    "Affine": (True, True), "LeakyRelu": (True, False), "ThresholdedRelu": (True, False),
    "ScaledTanh": (True, True), "HardSigmoid": (True, True), "Elu": (True, False),
    "Softsign": (False, False), "Softplus": (False, False),
}
# ONNX Runtime's defaults when activation_alpha/beta run out (0 otherwise; LSTM, GRU and RNN).
ORT_DEFAULTS = {"LeakyRelu": (0.01, 0.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, 0.0)}


@dataclass(frozen=True)
class Act:
    name: str
    alpha: float = 0.0
    beta: float = 0.0


def act(name: str, alpha: float | None = None, beta: float | None = None) -> Act:
    """An activation with the alpha/beta actually used (ORT defaults filled in)."""
    takes_alpha, takes_beta = TAKES[name]
    d_alpha, d_beta = ORT_DEFAULTS.get(name, (0.0, 0.0))
    assert takes_alpha or alpha is None, name
    assert takes_beta or beta is None, name
    return Act(name, d_alpha if alpha is None else alpha, d_beta if beta is None else beta)


DEFAULT_ACTS = {
    "lstm": (act("Sigmoid"), act("Tanh"), act("Tanh")),
    "gru": (act("Sigmoid"), act("Tanh")),
    "rnn": (act("Tanh"),),
}

# Minimum distance of every pre-activation to a kink/jump, collected per case.
KINKS: list[float] = []
CLAMPED: list[int] = []


def note_distance(x: torch.Tensor, point: float) -> None:
    KINKS.append(float((x.detach() - point).abs().min()))


def apply_act(a: Act, x: torch.Tensor) -> torch.Tensor:
    al, be = a.alpha, a.beta
    if a.name == "Sigmoid":
        return torch.sigmoid(x)
    if a.name == "Tanh":
        return torch.tanh(x)
    if a.name == "Relu":
        note_distance(x, 0.0)
        return torch.relu(x)
    if a.name == "Affine":
        return al * x + be
    if a.name == "LeakyRelu":
        note_distance(x, 0.0)
        return torch.where(x >= 0, x, al * x)
    if a.name == "ThresholdedRelu":
        note_distance(x, al)
        return torch.where(x > al, x, torch.zeros_like(x))
    if a.name == "ScaledTanh":
        return al * torch.tanh(be * x)
    if a.name == "HardSigmoid":
        note_distance(al * x + be, 0.0)
        note_distance(al * x + be, 1.0)
        return torch.clamp(al * x + be, 0.0, 1.0)
    if a.name == "Elu":
        note_distance(x, 0.0)
        return torch.where(x >= 0, x, al * (torch.exp(x) - 1))
    if a.name == "Softsign":
        return x / (1 + x.abs())
    if a.name == "Softplus":
        return torch.log(1 + torch.exp(x))
    raise ValueError(a.name)


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    kind: str  # lstm | gru | rnn
    variant: str
    layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    state: bool = False
    input_size: int = 3
    hidden_size: int = 4
    proj: int = 0
    peephole: bool = False
    input_forget: bool = False
    layer_norm: bool = False
    reset_after: bool = True  # gru
    clip: float | None = None
    acts: tuple[tuple[Act, ...], ...] = ()  # per direction; () = defaults
    onnx_default_alpha_beta: bool = False  # omit activation_alpha/beta in the ONNX node

    @property
    def name(self) -> str:
        return (f"{self.kind}_{self.variant}_L{self.layers}_{'bi' if self.bidirectional else 'uni'}"
                f"_{'bf' if self.batch_first else 'tm'}_{'bias' if self.bias else 'nobias'}"
                f"_{'state' if self.state else 'nostate'}"
                f"{'_h37' if self.hidden_size == 37 else ''}")

    @property
    def d(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        return self.proj or self.hidden_size

    @property
    def directions_acts(self) -> tuple[tuple[Act, ...], ...]:
        acts = self.acts or (DEFAULT_ACTS[self.kind],) * self.d
        assert len(acts) == self.d and all(len(a) == len(DEFAULT_ACTS[self.kind]) for a in acts)
        return acts

    @property
    def has_onnx(self) -> bool:
        return not self.layer_norm and self.proj == 0


def cases() -> list[Case]:
    # Case(kind, variant, layers, bidirectional, batch_first, bias, state, ...)
    A, L, G, R = act, "lstm", "gru", "rnn"
    H37 = dict(input_size=5, hidden_size=37)
    out = [
        # LSTM peephole.
        Case(L, "peephole", 1, False, False, True, False, peephole=True),
        Case(L, "peephole", 1, True, True, True, True, peephole=True),
        Case(L, "peephole", 2, False, True, False, True, peephole=True),
        Case(L, "peephole", 2, True, False, True, True, peephole=True),
        Case(L, "peephole", 2, True, True, False, False, peephole=True),
        Case(L, "peephole", 1, False, False, True, True, peephole=True, **H37),
        # Coupled input-forget gate.
        Case(L, "coupled", 1, False, False, True, True, input_forget=True),
        Case(L, "coupled_peephole", 2, True, True, True, True, peephole=True, input_forget=True),
        Case(L, "coupled", 1, True, False, False, False, input_forget=True, **H37),
        Case(L, "coupled_act", 1, False, True, True, True, input_forget=True, acts=(
            (A("HardSigmoid", 0.25, 0.375), A("Tanh"), A("Tanh")),)),  # 1 - f(a) != f(-a)
        # Peephole + projection (PyTorch reference only).
        Case(L, "peephole_proj", 2, True, False, True, True, peephole=True, proj=2),
        Case(L, "peephole_proj", 1, False, True, False, False, peephole=True, proj=2),
        # Clip.
        Case(L, "clip", 1, False, False, True, True, clip=0.375),
        Case(L, "peephole_clip", 2, True, False, True, True, peephole=True, clip=0.4375),
        Case(L, "coupled_peephole_clip", 1, False, True, True, True, peephole=True,
             input_forget=True, clip=0.5),
        # Non-default activations: all 11 ONNX activations appear.
        Case(L, "act1", 1, True, False, True, True, acts=(
            (A("HardSigmoid", 0.25, 0.5), A("ScaledTanh", 1.5, 0.75), A("Softsign")),
            (A("Sigmoid"), A("Elu", 0.5), A("Affine", 0.5, 0.25)))),
        Case(L, "act2", 2, False, True, True, False, acts=(
            (A("Sigmoid"), A("LeakyRelu", 0.125), A("ThresholdedRelu", 0.25)),)),
        Case(L, "act3", 1, True, True, False, True, acts=(
            (A("Sigmoid"), A("Relu"), A("Softplus")),
            (A("HardSigmoid", 0.125, 0.625), A("Tanh"), A("Tanh")))),
        Case(L, "act_defaults", 1, False, False, True, True, onnx_default_alpha_beta=True, acts=(
            (A("HardSigmoid"), A("Elu"), A("LeakyRelu")),)),
        Case(L, "act_peephole_clip", 1, True, False, True, True, peephole=True, clip=0.5, acts=(
            (A("Sigmoid"), A("ScaledTanh", 0.75, 1.5), A("Tanh")),
            (A("HardSigmoid", 0.25, 0.5), A("Softsign"), A("Elu", 0.75)))),
        # GRU, reset gate before the matrix product (ONNX linear_before_reset=0).
        Case(G, "resetbefore", 1, False, False, True, False, reset_after=False),
        Case(G, "resetbefore", 1, True, True, True, True, reset_after=False),
        Case(G, "resetbefore", 2, False, True, False, True, reset_after=False),
        Case(G, "resetbefore", 2, True, False, True, True, reset_after=False),
        Case(G, "resetbefore", 2, True, True, False, False, reset_after=False),
        Case(G, "resetbefore", 1, False, False, True, True, reset_after=False, **H37),
        Case(G, "resetbefore_clip_act", 1, True, False, True, True, reset_after=False, clip=0.5,
             acts=((A("Sigmoid"), A("LeakyRelu", 0.125)),
                   (A("HardSigmoid", 0.25, 0.5), A("Affine", 0.75, 0.125)))),
        Case(G, "resetbefore_act", 2, True, True, True, True, reset_after=False,
             acts=((A("Tanh"), A("Relu")), (A("Softsign"), A("Softplus")))),
        # GRU, PyTorch form (linear_before_reset=1), activations and clip.
        Case(G, "act", 1, True, False, True, True,
             acts=((A("HardSigmoid", 0.25, 0.5), A("Softsign")),
                   (A("Sigmoid"), A("ScaledTanh", 1.5, 0.5)))),
        Case(G, "clip", 2, False, True, True, True, clip=0.5),
        Case(G, "act_clip", 1, False, False, False, False, clip=0.625,
             acts=((A("Sigmoid"), A("Elu", 0.5)),)),
        Case(G, "act_relu", 1, True, True, True, True,
             acts=((A("Relu"), A("ThresholdedRelu", 0.25)), (A("Sigmoid"), A("Relu")))),
        # RNN.
        Case(R, "act1", 1, True, False, True, True, acts=((A("Relu"),), (A("LeakyRelu", 0.125),))),
        Case(R, "act2", 2, False, True, True, False, acts=((A("ScaledTanh", 1.5, 0.5),),)),
        Case(R, "act3", 1, True, True, False, True, acts=((A("Elu", 0.5),), (A("Softsign"),))),
        Case(R, "act4", 2, True, False, True, True,
             acts=((A("Softplus"),), (A("Affine", 0.5, 0.25),))),
        Case(R, "act5", 1, True, False, True, True,
             acts=((A("ThresholdedRelu", 0.25),), (A("HardSigmoid", 0.25, 0.5),)), **H37),
        Case(R, "act_defaults", 1, True, False, True, True, onnx_default_alpha_beta=True,
             acts=((A("LeakyRelu"),), (A("Elu"),))),
        Case(R, "clip", 1, False, False, True, True, clip=0.5),
        Case(R, "act_clip", 2, True, True, True, True, clip=0.75,
             acts=((A("Sigmoid"),), (A("HardSigmoid", 0.5, 0.5),))),
        # Layer-norm LSTM (PyTorch reference only).
        Case(L, "ln", 1, False, False, True, True, layer_norm=True),
        Case(L, "ln", 2, True, True, True, True, layer_norm=True),
        Case(L, "ln", 1, True, False, False, False, layer_norm=True),
        Case(L, "ln", 2, False, True, False, True, layer_norm=True),
        Case(L, "ln_proj", 2, True, False, True, True, layer_norm=True, proj=2),
        Case(L, "ln", 1, False, False, True, True, layer_norm=True, **H37),
        # Layer-norm GRU (PyTorch reference only).
        Case(G, "ln", 1, False, False, True, True, layer_norm=True),
        Case(G, "ln", 2, True, True, True, True, layer_norm=True),
        Case(G, "ln", 1, True, False, False, False, layer_norm=True),
        Case(G, "ln", 1, False, True, True, True, layer_norm=True, **H37),
    ]
    names = [c.name for c in out]
    assert len(names) == len(set(names)), "duplicate case names"
    used = {a.name for c in out for d in c.directions_acts for a in d}
    assert used == set(TAKES), f"activations never used: {set(TAKES) - used}"
    return out


# ----------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------

def suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def make_params(c: Case) -> dict[str, torch.Tensor]:
    """All parameters, drawn in a fixed order (layer, direction, name)."""
    gh, h, k = GATES[c.kind] * c.hidden_size, c.hidden_size, 1 / math.sqrt(c.hidden_size)

    def uniform(shape, lo, hi):
        return torch.empty(*shape).uniform_(lo, hi)

    params = {}
    for layer in range(c.layers):
        in_size = c.input_size if layer == 0 else c.d * c.h_out
        for d in range(c.d):
            s = suffix(layer, d)
            params[f"weight_ih{s}"] = uniform((gh, in_size), -k, k)
            params[f"weight_hh{s}"] = uniform((gh, c.h_out), -k, k)
            if c.bias:
                params[f"bias_ih{s}"] = uniform((gh,), -k, k)
                params[f"bias_hh{s}"] = uniform((gh,), -k, k)
            if c.proj:
                params[f"weight_hr{s}"] = uniform((c.proj, h), -k, k)
            if c.peephole:
                params[f"weight_peephole{s}"] = uniform((3 * h,), -0.5, 0.5)
            if c.layer_norm:
                params[f"ln_weight_ih{s}"] = uniform((gh,), 0.5, 1.5)
                params[f"ln_weight_hh{s}"] = uniform((gh,), 0.5, 1.5)
                if c.kind == "lstm":
                    params[f"ln_weight_c{s}"] = uniform((h,), 0.5, 1.5)
                    params[f"ln_bias_c{s}"] = uniform((h,), -0.5, 0.5)
    return {n: t.requires_grad_(True) for n, t in params.items()}


# ----------------------------------------------------------------------------
# Reference 1: PyTorch, from the equations
# ----------------------------------------------------------------------------

def layer_norm(v, weight, bias):
    mean = v.mean(dim=-1, keepdim=True)
    var = ((v - mean) ** 2).mean(dim=-1, keepdim=True)
    out = (v - mean) / torch.sqrt(var + LN_EPS) * weight
    return out if bias is None else out + bias


def clip_fn(c: Case, a: torch.Tensor) -> torch.Tensor:
    if c.clip is None:
        return a
    note_distance(a.abs(), c.clip)
    CLAMPED.append(int((a.abs() > c.clip).sum()))
    return torch.clamp(a, -c.clip, c.clip)


def gate_inputs(c: Case, p, x, h):
    """(gx, gh): the input and hidden contributions, biases included."""
    gx, gh = x @ p["weight_ih"].T, h @ p["weight_hh"].T
    if c.layer_norm:
        return (layer_norm(gx, p["ln_weight_ih"], p.get("bias_ih")),
                layer_norm(gh, p["ln_weight_hh"], p.get("bias_hh")))
    if c.bias:
        gx, gh = gx + p["bias_ih"], gh + p["bias_hh"]
    return gx, gh


def lstm_step(c: Case, p, acts, x, h, cell):
    f_act, g_act, h_act = acts
    gx, gh = gate_inputs(c, p, x, h)
    a_i, a_f, a_g, a_o = (gx + gh).chunk(4, dim=-1)
    if c.layer_norm:
        i, f, g, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)
        cell = f * cell + i * g
        m = o * torch.tanh(layer_norm(cell, p["ln_weight_c"], p["ln_bias_c"]))
    else:
        if c.peephole:
            p_i, p_f, p_o = p["weight_peephole"].chunk(3)
            a_i, a_f = a_i + p_i * cell, a_f + p_f * cell
        i = apply_act(f_act, clip_fn(c, a_i))
        f = 1 - i if c.input_forget else apply_act(f_act, clip_fn(c, a_f))
        g = apply_act(g_act, clip_fn(c, a_g))
        cell = f * cell + i * g
        if c.peephole:
            a_o = a_o + p_o * cell
        o = apply_act(f_act, clip_fn(c, a_o))
        m = o * apply_act(h_act, cell)
    h = m @ p["weight_hr"].T if c.proj else m
    return h, cell


def gru_step(c: Case, p, acts, x, h):
    f_act, g_act = acts
    gx, gh = gate_inputs(c, p, x, h)
    x_r, x_z, x_n = gx.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    if c.layer_norm:
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
    else:
        r = apply_act(f_act, clip_fn(c, x_r + h_r))
        z = apply_act(f_act, clip_fn(c, x_z + h_z))
        if c.reset_after:
            n = apply_act(g_act, clip_fn(c, x_n + r * h_n))
        else:
            w_hn = p["weight_hh"][2 * c.hidden_size:]
            rec = (r * h) @ w_hn.T
            if c.bias:
                rec = rec + p["bias_hh"][2 * c.hidden_size:]
            n = apply_act(g_act, clip_fn(c, x_n + rec))
    return (1 - z) * n + z * h


def rnn_step(c: Case, p, acts, x, h):
    gx, gh = gate_inputs(c, p, x, h)
    return apply_act(acts[0], clip_fn(c, gx + gh))


def reference_forward(c: Case, params, x, h0, c0):
    """x time-major [T, B, I]; returns output [T, B, D*Ho], h_n, c_n (or None)."""
    batch = x.shape[1]
    layer_input, h_n, c_n = x, [], []
    for layer in range(c.layers):
        outs = []
        for d in range(c.d):
            s = suffix(layer, d)
            p = {n[:-len(s)]: t for n, t in params.items() if n.endswith(s)}
            acts = c.directions_acts[d]
            idx = layer * c.d + d
            h = h0[idx] if h0 is not None else torch.zeros(batch, c.h_out)
            cell = c0[idx] if c0 is not None else torch.zeros(batch, c.hidden_size)
            steps = range(SEQ_LEN - 1, -1, -1) if d else range(SEQ_LEN)
            ys = [None] * SEQ_LEN
            for t in steps:
                if c.kind == "lstm":
                    h, cell = lstm_step(c, p, acts, layer_input[t], h, cell)
                elif c.kind == "gru":
                    h = gru_step(c, p, acts, layer_input[t], h)
                else:
                    h = rnn_step(c, p, acts, layer_input[t], h)
                ys[t] = h
            outs.append(torch.stack(ys))
            h_n.append(h)
            c_n.append(cell)
        layer_input = torch.cat(outs, dim=-1)
    return layer_input, torch.stack(h_n), torch.stack(c_n) if c.kind == "lstm" else None


# ----------------------------------------------------------------------------
# Reference 2: ONNX Runtime
# ----------------------------------------------------------------------------

# Our gate blocks in ONNX order: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h.
ONNX_GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}
ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def onnx_gates(c: Case, t: torch.Tensor) -> np.ndarray:
    blocks = t.detach().reshape(GATES[c.kind], c.hidden_size, *t.shape[1:])
    return blocks[ONNX_GATE_ORDER[c.kind]].reshape(t.shape).numpy()


def onnx_alpha_beta(c: Case) -> tuple[list[float], list[float]]:
    acts = [a for d in c.directions_acts for a in d]
    alphas = [a.alpha for a in acts if TAKES[a.name][0]]  # packed, as ORT reads them
    betas = [a.beta for a in acts if TAKES[a.name][1]]
    return alphas, betas


def onnx_model(c: Case, params, alphas=None, betas=None) -> onnx.ModelProto:
    """One node per layer; graph inputs X, initial_h_l{l}, initial_c_l{l}."""
    if alphas is None:
        alphas, betas = onnx_alpha_beta(c)
    def value_info(name, *shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

    state_shape = (c.d, BATCH, c.hidden_size)
    nodes, inits = [], []
    inputs = [value_info("X", SEQ_LEN, BATCH, c.input_size)]
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "shape_TB_"))
    current, hs, cs = "X", [], []
    for layer in range(c.layers):
        sfx = [suffix(layer, d) for d in range(c.d)]
        w = np.stack([onnx_gates(c, params[f"weight_ih{s}"]) for s in sfx])
        r = np.stack([onnx_gates(c, params[f"weight_hh{s}"]) for s in sfx])
        names = [current, f"W{layer}", f"R{layer}", "", "", "", "", ""]
        inits += [numpy_helper.from_array(w, f"W{layer}"), numpy_helper.from_array(r, f"R{layer}")]
        if c.bias:
            b = np.stack([np.concatenate([onnx_gates(c, params[f"bias_ih{s}"]),
                                          onnx_gates(c, params[f"bias_hh{s}"])]) for s in sfx])
            inits.append(numpy_helper.from_array(b, f"B{layer}"))
            names[3] = f"B{layer}"
        if c.state:
            names[5] = f"initial_h_l{layer}"
            inputs.append(value_info(names[5], *state_shape))
            if c.kind == "lstm":
                names[6] = f"initial_c_l{layer}"
                inputs.append(value_info(names[6], *state_shape))
        if c.peephole:  # ours i,f,o -> ONNX i,o,f
            pw = np.stack([params[f"weight_peephole{s}"].detach().reshape(3, -1)[[0, 2, 1]]
                           .reshape(-1).numpy() for s in sfx])
            inits.append(numpy_helper.from_array(pw, f"P{layer}"))
            names[7] = f"P{layer}"
        while names[-1] == "":
            names.pop()
        outputs = [f"Y{layer}", f"Y_h{layer}"] + ([f"Y_c{layer}"] if c.kind == "lstm" else [])
        attrs = dict(hidden_size=c.hidden_size,
                     direction="bidirectional" if c.bidirectional else "forward",
                     activations=[a.name for d in c.directions_acts for a in d])
        if not c.onnx_default_alpha_beta:
            if alphas:
                attrs["activation_alpha"] = alphas
            if betas:
                attrs["activation_beta"] = betas
        if c.clip is not None:
            attrs["clip"] = c.clip
        if c.kind == "lstm" and c.input_forget:
            attrs["input_forget"] = 1
        if c.kind == "gru":
            attrs["linear_before_reset"] = int(c.reset_after)
        nodes.append(helper.make_node(ONNX_OP[c.kind], names, outputs, **attrs))
        # Y [T, D, B, H] -> [T, B, D, H] -> [T, B, D*H]
        nodes.append(helper.make_node("Transpose", [f"Y{layer}"], [f"Yt{layer}"], perm=[0, 2, 1, 3]))
        current = f"layer{layer}_out"
        nodes.append(helper.make_node("Reshape", [f"Yt{layer}", "shape_TB_"], [current]))
        hs.append(f"Y_h{layer}")
        cs.append(f"Y_c{layer}")
    nodes.append(helper.make_node("Identity", [current], ["output"]))
    nodes.append(helper.make_node("Concat", hs, ["h_n"], axis=0))
    outputs = [value_info("output", SEQ_LEN, BATCH, c.d * c.hidden_size),
               value_info("h_n", c.layers * c.d, BATCH, c.hidden_size)]
    if c.kind == "lstm":
        nodes.append(helper.make_node("Concat", cs, ["c_n"], axis=0))
        outputs.append(value_info("c_n", c.layers * c.d, BATCH, c.hidden_size))
    graph = helper.make_graph(nodes, c.name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def run_onnx(c: Case, model, x_tm, h0, c0) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {"X": x_tm.detach().numpy()}
    for layer in range(c.layers):
        rows = slice(layer * c.d, (layer + 1) * c.d)
        if c.state:
            feeds[f"initial_h_l{layer}"] = h0[rows].detach().numpy()
            if c.kind == "lstm":
                feeds[f"initial_c_l{layer}"] = c0[rows].detach().numpy()
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def assert_close(what: str, ort_value: np.ndarray, ref: torch.Tensor) -> float:
    ref = ref.detach().numpy()
    assert ort_value.shape == ref.shape, (what, ort_value.shape, ref.shape)
    err = float(np.max(np.abs(ort_value - ref) / np.maximum(1.0, np.abs(ref))))
    assert err <= ORT_TOLERANCE, f"{what}: ONNX Runtime and the reference differ by {err:.3g}"
    return err


# ----------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------

def fmt(v: float) -> str:
    return "0" if v == 0 else repr(float(v))


def flag(value: bool) -> str:
    return "true" if value else "false"


def case_metadata(c: Case) -> dict[str, str]:
    acts = [a for d in c.directions_acts for a in d]
    meta = dict(
        kind=c.kind, num_layers=str(c.layers), bidirectional=flag(c.bidirectional),
        batch_first=flag(c.batch_first), bias=flag(c.bias), has_state=flag(c.state),
        proj_size=str(c.proj), input_size=str(c.input_size), hidden_size=str(c.hidden_size),
        seq_len=str(SEQ_LEN), batch=str(BATCH), peephole=flag(c.peephole),
        input_forget=flag(c.input_forget), layer_norm=flag(c.layer_norm),
        clip="none" if c.clip is None else fmt(c.clip),
        activations=",".join(a.name for a in acts),
        activation_alpha=",".join(fmt(a.alpha) if TAKES[a.name][0] else "0" for a in acts),
        activation_beta=",".join(fmt(a.beta) if TAKES[a.name][1] else "0" for a in acts),
        has_onnx=flag(c.has_onnx), torch_version=torch.__version__,
    )
    if c.kind == "gru":
        meta["reset_after"] = flag(c.reset_after)
    if c.has_onnx:
        meta["onnxruntime_version"] = ort.__version__
    return meta


def fixture(c: Case) -> tuple[dict[str, torch.Tensor], dict[str, str], float]:
    torch.manual_seed(zlib.crc32(c.name.encode("utf-8")))
    KINKS.clear()
    CLAMPED.clear()
    params = make_params(c)
    shape = (BATCH, SEQ_LEN, c.input_size) if c.batch_first else (SEQ_LEN, BATCH, c.input_size)
    x = torch.randn(*shape, requires_grad=True)
    inputs = {"input": x}
    h0 = c0 = None
    if c.state:
        h0 = inputs["h0"] = torch.randn(c.d * c.layers, BATCH, c.h_out, requires_grad=True)
        if c.kind == "lstm":
            c0 = inputs["c0"] = torch.randn(c.d * c.layers, BATCH, c.hidden_size, requires_grad=True)

    x_tm = x.transpose(0, 1) if c.batch_first else x
    output, h_n, c_n = reference_forward(c, params, x_tm, h0, c0)
    outputs = {"output": output.transpose(0, 1) if c.batch_first else output, "h_n": h_n}
    if c_n is not None:
        outputs["c_n"] = c_n
    assert not KINKS or min(KINKS) > KINK_MARGIN, f"{c.name}: pre-activation {min(KINKS):.3g} from a kink"
    assert c.clip is None or sum(CLAMPED) > 0, f"{c.name}: clip never clamps"

    loss_weights = {k: torch.randn(v.shape) for k, v in outputs.items()}
    loss = sum((outputs[k] * loss_weights[k]).sum() for k in outputs)
    loss.backward()

    tensors = {f"param.{n}": t.detach() for n, t in params.items()}
    tensors.update({k: v.detach() for k, v in inputs.items()})
    tensors.update({k: v.detach() for k, v in outputs.items()})
    tensors.update({f"loss_weight.{k}": v for k, v in loss_weights.items()})
    tensors["loss"] = loss.detach().reshape(1)
    tensors.update({f"grad.{k}": v.grad for k, v in inputs.items()})
    for n, t in params.items():
        assert t.grad is not None, f"{c.name}: no gradient for {n}"
        tensors[f"grad.param.{n}"] = t.grad
    if c.input_forget:  # the forget rows and p_f are unused: zero gradient
        h = c.hidden_size
        for n, t in params.items():
            if n.rsplit("_l", 1)[0] in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_peephole"):
                assert bool((t.grad[h:2 * h] == 0).all()), f"{c.name}: {n} forget rows"

    err = 0.0
    if c.has_onnx:
        got = run_onnx(c, onnx_model(c, params), x_tm, h0, c0)
        if c.batch_first:
            got["output"] = got["output"].transpose(1, 0, 2)
        for k in outputs:
            err = max(err, assert_close(f"{c.name}.{k}", got[k], outputs[k]))
            tensors[f"onnx.{k}"] = torch.from_numpy(np.ascontiguousarray(got[k]))

    tensors = {k: v.detach().contiguous().float() for k, v in tensors.items()}
    return tensors, case_metadata(c), err


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


def main() -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    all_cases = cases()
    # Compute (and cross-check) everything before touching the output folder.
    results = [(c, *fixture(c)) for c in all_cases]
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    total = 0
    for c, tensors, meta, err in results:
        path = OUT / f"{c.name}.safetensors"
        save_file(tensors, str(path), metadata=meta)
        canonicalize_header(path)
        total += path.stat().st_size
        note = f"ort max rel diff {err:.2e}" if c.has_onnx else "no onnx"
        print(f"  {c.name:<52} {len(tensors):3d} tensors  {note}")
    for path in OUT.iterdir():
        for key, t in load_file(str(path)).items():
            assert t.dtype == torch.float32 and bool(torch.isfinite(t).all()), (path, key)
    n_onnx = sum(c.has_onnx for c in all_cases)
    print(f"variants: {len(results)} files ({n_onnx} with ONNX Runtime), {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
