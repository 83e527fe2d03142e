#!/usr/bin/env python3
"""Generate reference fixtures for variable-length (packed) sequences.

Usage (from any directory)::

    python3 -m pip install -r Tools/requirements.txt
    python3 Tools/make_packed_fixtures.py

Each run deletes and regenerates ``Tests/RecurrentTests/Fixtures/packed/``
and nothing else (everything is computed and cross-checked before the folder
is touched). The script is deterministic: every case seeds
``torch.manual_seed`` with the CRC-32 of its own name, runs on the CPU with
one thread in float32 (oneDNN disabled, as in make_fixtures.py; ONNX Runtime
with one intra- and one inter-op thread), and the safetensors headers are
rewritten with sorted metadata keys, so a re-run reproduces every file byte
for byte.

Semantics (PyTorch's)
    A layer run on a padded batch whose row b holds a sequence of length
    lengths[b] (1 <= lengths[b] <= T, max(lengths) = T), exactly as
    ``pack_padded_sequence(input, lengths, batch_first, enforce_sorted)`` ->
    layer -> ``pad_packed_sequence(..., batch_first, total_length=T)``
    computes it: every row is an independent sequence of its own length; the
    forward direction runs steps 0..len-1, the reverse direction starts at
    step len-1 (not at T-1) and runs back to 0; padding positions of the input
    are never read; the output is zero past each row's length; h_n / c_n hold
    each row's state after its own last step (forward) or after step 0
    (reverse), in the original batch order; h0 / c0 are given in the original
    batch order (PyTorch permutes them to the sorted order and back).

References
    Standard kinds (rnn_tanh, rnn_relu, lstm, gru; variant "standard"): the
    real ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` on the PackedSequence, as above.
    Variants (variant != "standard"; PyTorch has none): the reference modules
    of ``Tools/make_variant_fixtures.py`` (imported, not copied), run on EACH
    batch row as its own sequence of its own length (``reference_forward`` on
    x[:len_b, b:b+1], time-major, with h0[:, b:b+1] / c0[:, b:b+1]); the padded
    output and h_n / c_n are assembled from the rows and autograd through that
    gives the gradients. ``packed.data`` of a variant is
    ``pack_padded_sequence`` of that padded output.
    Cross-checks asserted before anything is written (tolerance:
    |a - b| <= 1e-5 * max(1, |b|) element-wise):
      * every standard case: the same per-row method with the real nn module
        (each row run through the module on its own, unpacked) matches the
        packed path in output, h_n, c_n, loss and every gradient; and the
        per-row method with make_variant_fixtures' ``reference_forward`` (the
        equivalent standard Case, same parameters) matches output, h_n, c_n;
      * every case ONNX can express (no layer norm, no projection; standard
        cases included): ONNX Runtime with ``sequence_lens`` (the model of
        make_variant_fixtures.onnx_model with sequence_lens added to each
        node) matches output (zero past each length), h_n and c_n;
      * pack_padded_sequence(output).data equals the layer's packed output
        bit for bit (standard cases), output and grad.input are exactly zero at
        padding positions, pad_packed_sequence returns the lengths back;
      * the case whose lengths all equal T matches the plain unpacked run
        (output, h_n, c_n, every gradient);
      * variants: every pre-activation at least make_variant_fixtures'
        KINK_MARGIN from a kink of its activation or +-clip, and clip clamps
        some pre-activations (as in make_variant_fixtures.py); rnn_relu
        (standard) likewise for ReLU.

Sizes: input_size=3, hidden_size=4, seq_len T=6, batch B=5, unless the name
ends in ``_h37`` (input_size=5, hidden_size=37, T=9, B=7) or ``_b1`` (B=1);
proj_size 2 in ``_proj`` cases.

Lengths: int64 drawn uniformly from [1, T] with one row set to 1 and another
to T; sorted descending when enforce_sorted is true, in the drawn order
otherwise (reversed if drawn non-increasing, so that unsorted cases always
need sorting). Ties occur among both the sorted and the unsorted cases
(asserted), and in every unsorted case PyTorch's torch.sort(descending=True)
keeps tied rows in their original order, as a stable sort would (asserted, so
``packed.sorted_indices`` is the stable descending argsort). ``_full``: every
length T. ``_b1``: B=1, one length drawn from [2, T-1] (so there is padding).

packed/<case>.safetensors
    Name (standard): ``{kind}_L{layers}_{uni|bi}_{tm|bf}_{bias|nobias}_{state|nostate}_{sorted|unsorted}[_proj][_h37|_full|_b1]``
    Name (variant):  ``{kind}_{variant}_L{layers}_{uni|bi}_{tm|bf}_{bias|nobias}_{state|nostate}_{sorted|unsorted}``
    (sorted = enforce_sorted true). D = 2 if bidirectional else 1, L =
    num_layers, H = hidden_size, Ho = proj_size or H, N = sum(lengths).
    Tensors (float32 unless int64 is stated; the scalar loss has shape [1]):
      ``input``                   [T, B, I] ([B, T, I] when batch_first); padding
                                  positions (t >= lengths[b]) hold random values too.
      ``lengths``                 int64 [B], in the input's batch order.
      ``h0``, ``c0``              [D*L, B, Ho], [D*L, B, H] (has_state; c0 for lstm),
                                  original batch order.
      ``param.<name>``            every parameter: PyTorch state_dict names for the
                                  standard kinds; make_variant_fixtures' names for the
                                  variants (weight_ih_l{l}{s}, weight_hh_l{l}{s},
                                  bias_ih_l{l}{s}, bias_hh_l{l}{s}, weight_hr_l{l}{s},
                                  weight_peephole_l{l}{s} (order i, f, o),
                                  ln_weight_ih_l{l}{s}, ln_weight_hh_l{l}{s},
                                  ln_weight_c_l{l}{s}, ln_bias_c_l{l}{s}; s = "" or
                                  "_reverse"), drawn by its make_params.
      ``output``                  [T, B, D*Ho] ([B, T, D*Ho] when batch_first); zero
                                  where t >= lengths[b] (pad_packed_sequence with
                                  total_length=T, padding_value=0).
      ``h_n``                     [D*L, B, Ho], each row's state at its own end.
      ``c_n``                     [D*L, B, H] (lstm).
      ``loss_weight.output``, ``loss_weight.h_n``, ``loss_weight.c_n`` (lstm):
                                  randn in the shapes of output, h_n, c_n (the weights
                                  at padding positions are random too; they multiply 0).
      ``loss``                    [1], sum(output*Wo) + sum(h_n*Wh) [+ sum(c_n*Wc)].
      ``grad.input``              d loss / d input, same shape; exactly zero at padding
                                  positions.
      ``grad.h0``, ``grad.c0``    (has_state).
      ``grad.param.<name>``       every parameter (zero rows included: the coupled
                                  gate's forget rows).
      ``packed_input.data``       [N, I]: pack_padded_sequence(input, lengths,
                                  batch_first, enforce_sorted).data.
      ``packed.data``             [N, D*Ho]: the layer's packed output (time step by
                                  time step, within a step the rows in sorted order).
      ``packed.batch_sizes``      int64 [max(lengths)] (= [T] except in ``_b1``): rows
                                  still running at each step.
      ``packed.sorted_indices``, ``packed.unsorted_indices``
                                  int64 [B] (enforce_sorted false only; absent when
                                  true, where PyTorch has None): sorted position ->
                                  original row, and its inverse, as PyTorch's
                                  torch.sort(lengths, descending=True) gives them.
    Metadata (strings): kind (rnn_tanh | rnn_relu | lstm | gru for the standard
    kinds; lstm | gru | rnn for variants, as make_variant_fixtures.py spells
    it, the RNN's activation then given by ``activations``), num_layers,
    bidirectional, batch_first, bias, has_state, proj_size, input_size,
    hidden_size, seq_len, batch, enforce_sorted, variant ("standard" or
    make_variant_fixtures' variant name: peephole, coupled, ln, resetbefore,
    act_clip), torch_version; variants also carry make_variant_fixtures'
    keys with the same spelling and meaning: peephole, input_forget,
    layer_norm, reset_after (gru only), clip ("none" or the value),
    activations, activation_alpha, activation_beta.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import make_variant_fixtures as v  # noqa: E402

assert torch.__version__.startswith("2.15"), f"expected torch 2.15.x, got {torch.__version__}"

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "Tests" / "RecurrentTests" / "Fixtures" / "packed"

INPUT_SIZE = 3
HIDDEN_SIZE = 4
SEQ_LEN = 6
BATCH = 5
PROJ_SIZE = 2
TOLERANCE = 1e-5

STANDARD_KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------

def seed_for(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def flag(value: bool) -> str:
    return "true" if value else "false"


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.numel() == 0:
        return 0.0
    return float(((a - b).abs() / b.abs().clamp(min=1.0)).max())


def assert_close(what: str, a: torch.Tensor, b: torch.Tensor) -> float:
    err = max_rel(a, b)
    assert err <= TOLERANCE, f"{what}: differs by {err:.3g}"
    return err


# Sorting the metadata keys in the safetensors header: the variant script's (see make_fixtures.py).
canonicalize_header = v.canonicalize_header


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PackedCase:
    kind: str  # standard: rnn_tanh | rnn_relu | lstm | gru; variant: lstm | gru | rnn
    layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    state: bool
    enforce_sorted: bool
    proj: int = 0
    input_size: int = INPUT_SIZE
    hidden_size: int = HIDDEN_SIZE
    seq_len: int = SEQ_LEN
    batch: int = BATCH
    lengths_mode: str = "random"  # random | full | single
    tag: str = ""  # name suffix
    variant: v.Case | None = None  # the make_variant_fixtures case (variants only)

    @property
    def is_variant(self) -> bool:
        return self.variant is not None

    @property
    def is_lstm(self) -> bool:
        return self.kind == "lstm"

    @property
    def d(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        return self.proj or self.hidden_size

    @property
    def name(self) -> str:
        kind = f"{self.kind}_{self.variant.variant}" if self.is_variant else self.kind
        return (f"{kind}_L{self.layers}_{'bi' if self.bidirectional else 'uni'}"
                f"_{'bf' if self.batch_first else 'tm'}_{'bias' if self.bias else 'nobias'}"
                f"_{'state' if self.state else 'nostate'}"
                f"_{'sorted' if self.enforce_sorted else 'unsorted'}"
                f"{'_proj' if self.proj else ''}{'_' + self.tag if self.tag else ''}")

    def reference_case(self) -> v.Case:
        """The make_variant_fixtures Case computing this case (standard kinds: the equivalent)."""
        if self.is_variant:
            return self.variant
        kind, acts = self.kind, ()
        if kind in ("rnn_tanh", "rnn_relu"):
            kind, acts = "rnn", ((v.act("Tanh" if self.kind == "rnn_tanh" else "Relu"),),) * self.d
        return v.Case(kind, "standard", self.layers, self.bidirectional, self.batch_first,
                      self.bias, self.state, input_size=self.input_size,
                      hidden_size=self.hidden_size, proj=self.proj, acts=acts)


def variant_case(c: v.Case, enforce_sorted: bool) -> PackedCase:
    return PackedCase(c.kind, c.layers, c.bidirectional, c.batch_first, c.bias, c.state,
                      enforce_sorted, proj=c.proj, input_size=c.input_size,
                      hidden_size=c.hidden_size, variant=c)


# (batch_first, has_state, enforce_sorted, bias): every value of every flag appears in
# these six rows, and so for every kind, which takes them rotated by its index.
FLAG_ROWS = [
    (False, True, False, True),
    (True, False, True, True),
    (True, True, False, False),
    (False, True, True, True),
    (False, False, False, False),
    (True, True, True, False),
]
LAYOUTS = [(1, False), (1, True), (2, False), (2, True), (3, False), (3, True)]


def cases() -> list[PackedCase]:
    out = []
    for k, kind in enumerate(STANDARD_KINDS):
        for i, (layers, bi) in enumerate(LAYOUTS):
            bf, state, srt, bias = FLAG_ROWS[(i + k) % len(FLAG_ROWS)]
            out.append(PackedCase(kind, layers, bi, bf, bias, state, srt))
    L = "lstm"
    out += [
        # LSTM with projection.
        PackedCase(L, 1, False, True, True, False, False, proj=PROJ_SIZE),
        PackedCase(L, 2, True, False, True, True, True, proj=PROJ_SIZE),
        # Larger sizes: hidden 37, batch 7, 9 steps.
        PackedCase(L, 1, True, True, True, True, False, input_size=5, hidden_size=37,
                   seq_len=9, batch=7, tag="h37"),
        # Every length T: must equal the unpacked run (asserted).
        PackedCase(L, 2, True, False, True, True, False, lengths_mode="full", tag="full"),
        # One sequence, shorter than T.
        PackedCase("gru", 2, True, True, True, True, True, batch=1, lengths_mode="single",
                   tag="b1"),
    ]
    A, V = v.act, v.Case
    out += [
        # Case(kind, variant, layers, bidirectional, batch_first, bias, state, ...), enforce_sorted
        variant_case(V(L, "peephole", 1, True, False, True, True, peephole=True), False),
        variant_case(V(L, "peephole", 2, True, True, False, False, peephole=True), True),
        variant_case(V(L, "coupled", 1, True, True, True, True, input_forget=True), True),
        variant_case(V(L, "coupled", 2, True, False, False, True, input_forget=True), False),
        variant_case(V(L, "ln", 1, True, True, True, True, layer_norm=True), False),
        variant_case(V(L, "ln", 2, True, False, True, False, layer_norm=True), True),
        variant_case(V("gru", "resetbefore", 1, True, False, True, True, reset_after=False), True),
        variant_case(V("gru", "resetbefore", 2, True, True, False, True, reset_after=False), False),
        variant_case(V("gru", "ln", 1, True, False, True, True, layer_norm=True), False),
        variant_case(V("gru", "ln", 2, True, True, False, False, layer_norm=True), True),
        variant_case(V("rnn", "act_clip", 2, True, False, True, True, clip=0.625,
                       acts=((A("LeakyRelu", 0.125),), (A("ScaledTanh", 1.5, 0.5),))), False),
        variant_case(V(L, "act_clip", 1, True, True, True, True, clip=0.5, acts=(
            (A("HardSigmoid", 0.25, 0.5), A("ScaledTanh", 1.5, 0.75), A("Softsign")),
            (A("Sigmoid"), A("Elu", 0.5), A("Tanh")))), True),
    ]
    names = [c.name for c in out]
    assert len(names) == len(set(names)), "duplicate case names"
    return out


# ----------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------

def draw_lengths(c: PackedCase) -> torch.Tensor:
    t, b = c.seq_len, c.batch
    if c.lengths_mode == "full":
        return torch.full((b,), t, dtype=torch.int64)
    if c.lengths_mode == "single":
        assert b == 1
        return torch.randint(2, t, (1,), dtype=torch.int64)
    lengths = torch.randint(1, t + 1, (b,), dtype=torch.int64)
    ends = torch.randperm(b)[:2]
    lengths[ends[0]], lengths[ends[1]] = 1, t
    if c.enforce_sorted:
        lengths = torch.sort(lengths, descending=True, stable=True).values
    elif not bool((lengths[1:] > lengths[:-1]).any()):
        lengths = lengths.flip(0)  # drawn non-increasing: reversed, so that sorting is needed
    return lengths


def make_module(c: PackedCase) -> nn.Module:
    common = dict(num_layers=c.layers, bias=c.bias, batch_first=c.batch_first, dropout=0.0,
                  bidirectional=c.bidirectional)
    if c.kind in ("rnn_tanh", "rnn_relu"):
        return nn.RNN(c.input_size, c.hidden_size, nonlinearity=c.kind[4:], **common)
    if c.kind == "lstm":
        return nn.LSTM(c.input_size, c.hidden_size, proj_size=c.proj, **common)
    if c.kind == "gru":
        return nn.GRU(c.input_size, c.hidden_size, **common)
    raise ValueError(c.kind)


def module_state(c: PackedCase, h0, c0):
    if h0 is None:
        return None
    return (h0, c0) if c.is_lstm else h0


def split_final(c: PackedCase, final):
    return final if c.is_lstm else (final, None)


# ----------------------------------------------------------------------------
# The per-row method
# ----------------------------------------------------------------------------

def per_row(row_forward, x_tm, lengths, h0, c0, seq_len):
    """Runs each row b as its own sequence of length lengths[b].

    row_forward(x [n, 1, I] time-major, h0 [DL, 1, Ho] | None, c0 | None) returns
    (output [n, 1, D*Ho], h_n [DL, 1, Ho], c_n | None). Returns the padded output
    [T, B, D*Ho] (zeros past each length), h_n and c_n, in the original batch order.
    """
    outs, hs, cs = [], [], []
    for b, n in enumerate(lengths.tolist()):
        y, h, cell = row_forward(x_tm[:n, b:b + 1],
                                 None if h0 is None else h0[:, b:b + 1],
                                 None if c0 is None else c0[:, b:b + 1])
        outs.append(torch.cat([y, y.new_zeros(seq_len - n, 1, y.shape[2])]))
        hs.append(h)
        cs.append(cell)
    c_n = None if cs[0] is None else torch.cat(cs, dim=1)
    return torch.cat(outs, dim=1), torch.cat(hs, dim=1), c_n


def reference_row_forward(ref: v.Case, params):
    """A row through make_variant_fixtures.reference_forward (its SEQ_LEN set to the row's length)."""
    def forward(x, h0, c0):
        saved = v.SEQ_LEN
        v.SEQ_LEN = x.shape[0]
        try:
            return v.reference_forward(ref, params, x, h0, c0)
        finally:
            v.SEQ_LEN = saved
    return forward


def module_row_forward(c: PackedCase, module: nn.Module):
    """A row through the real nn module, unpacked, in the module's own layout."""
    def forward(x, h0, c0):
        y, final = module(x.transpose(0, 1) if c.batch_first else x, module_state(c, h0, c0))
        h, cell = split_final(c, final)
        return (y.transpose(0, 1) if c.batch_first else y), h, cell
    return forward


# ----------------------------------------------------------------------------
# ONNX Runtime with sequence_lens
# ----------------------------------------------------------------------------

def onnx_check(c: PackedCase, ref: v.Case, params, x_tm, lengths, h0, c0, outputs_tm) -> float:
    saved = v.SEQ_LEN, v.BATCH
    v.SEQ_LEN, v.BATCH = c.seq_len, c.batch
    try:
        model = v.onnx_model(ref, params)
    finally:
        v.SEQ_LEN, v.BATCH = saved
    graph = model.graph
    graph.input.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [c.batch]))
    for node in graph.node:
        if node.op_type in ("LSTM", "GRU", "RNN"):
            names = list(node.input) + [""] * max(0, 5 - len(node.input))
            names[4] = "sequence_lens"
            del node.input[:]
            node.input.extend(names)
    onnx.checker.check_model(model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {"X": x_tm.detach().numpy(), "sequence_lens": lengths.numpy().astype(np.int32)}
    for layer in range(c.layers):
        rows = slice(layer * c.d, (layer + 1) * c.d)
        if c.state:
            feeds[f"initial_h_l{layer}"] = h0[rows].detach().numpy()
            if c.is_lstm:
                feeds[f"initial_c_l{layer}"] = c0[rows].detach().numpy()
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(names, feeds)))
    err = 0.0
    for k, ref_value in outputs_tm.items():
        err = max(err, assert_close(f"{c.name}: ONNX Runtime {k}", torch.from_numpy(got[k]), ref_value))
    return err


# ----------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------

def case_metadata(c: PackedCase) -> dict[str, str]:
    meta = dict(
        kind=c.kind, num_layers=str(c.layers), bidirectional=flag(c.bidirectional),
        batch_first=flag(c.batch_first), bias=flag(c.bias), has_state=flag(c.state),
        proj_size=str(c.proj), input_size=str(c.input_size), hidden_size=str(c.hidden_size),
        seq_len=str(c.seq_len), batch=str(c.batch), enforce_sorted=flag(c.enforce_sorted),
        variant=c.variant.variant if c.is_variant else "standard",
        torch_version=torch.__version__,
    )
    if c.is_variant:
        extra = v.case_metadata(c.variant)
        for key in ("peephole", "input_forget", "layer_norm", "reset_after", "clip",
                    "activations", "activation_alpha", "activation_beta"):
            if key in extra:
                meta[key] = extra[key]
        for key in ("kind", "num_layers", "bidirectional", "batch_first", "bias", "has_state",
                    "proj_size", "input_size", "hidden_size"):
            assert extra[key] == meta[key], (c.name, key)
    return meta


def fixture(c: PackedCase) -> tuple[dict[str, torch.Tensor], dict[str, str], dict[str, float]]:
    torch.manual_seed(seed_for(c.name))
    ref = c.reference_case()
    if c.is_variant:
        params = v.make_params(ref)
        module = None
    else:
        module = make_module(c)
        params = dict(module.named_parameters())
        assert list(params) == list(module.state_dict()), "state_dict must hold exactly the parameters"
    lengths = draw_lengths(c)
    t, b = c.seq_len, c.batch
    shape = (b, t, c.input_size) if c.batch_first else (t, b, c.input_size)
    x = torch.randn(*shape, requires_grad=True)
    inputs = {"input": x}
    h0 = c0 = None
    if c.state:
        h0 = inputs["h0"] = torch.randn(c.d * c.layers, b, c.h_out, requires_grad=True)
        if c.is_lstm:
            c0 = inputs["c0"] = torch.randn(c.d * c.layers, b, c.hidden_size, requires_grad=True)
    x_tm = x.transpose(0, 1) if c.batch_first else x

    packed_in = pack_padded_sequence(x, lengths, c.batch_first, c.enforce_sorted)
    v.KINKS.clear()
    v.CLAMPED.clear()
    if module is not None:
        packed_out, final = module(packed_in, module_state(c, h0, c0))
        output, out_lengths = pad_packed_sequence(packed_out, c.batch_first, total_length=t)
        assert torch.equal(out_lengths, lengths), c.name
        h_n, c_n = split_final(c, final)
    else:
        out_tm, h_n, c_n = per_row(reference_row_forward(ref, params), x_tm, lengths, h0, c0, t)
        output = out_tm.transpose(0, 1) if c.batch_first else out_tm
        packed_out = pack_padded_sequence(output, lengths, c.batch_first, c.enforce_sorted)
    if c.is_variant:
        assert not v.KINKS or min(v.KINKS) > v.KINK_MARGIN, f"{c.name}: pre-activation near a kink"
        assert c.variant.clip is None or sum(v.CLAMPED) > 0, f"{c.name}: clip never clamps"
    outputs = {"output": output, "h_n": h_n}
    if c_n is not None:
        outputs["c_n"] = c_n

    loss_weights = {k: torch.randn(o.shape) for k, o in outputs.items()}
    loss = sum((outputs[k] * loss_weights[k]).sum() for k in outputs)
    loss.backward()

    checks = check_case(c, ref, module, params, inputs, lengths, outputs, loss_weights, loss,
                        packed_in, packed_out)

    tensors = {f"param.{n}": p.detach() for n, p in params.items()}
    tensors.update({k: t_.detach() for k, t_ in inputs.items()})
    tensors["lengths"] = lengths
    tensors.update({k: o.detach() for k, o in outputs.items()})
    tensors.update({f"loss_weight.{k}": w for k, w in loss_weights.items()})
    tensors["loss"] = loss.detach().reshape(1)
    tensors.update({f"grad.{k}": t_.grad for k, t_ in inputs.items()})
    for n, p in params.items():
        assert p.grad is not None, f"{c.name}: no gradient for {n}"
        tensors[f"grad.param.{n}"] = p.grad
    if c.is_variant and c.variant.input_forget:  # the forget rows and p_f are unused: zero gradient
        h = c.hidden_size
        for n, p in params.items():
            if n.rsplit("_l", 1)[0] in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_peephole"):
                assert bool((p.grad[h:2 * h] == 0).all()), f"{c.name}: {n} forget rows"
    tensors["packed_input.data"] = packed_in.data.detach()
    tensors["packed.data"] = packed_out.data.detach()
    tensors["packed.batch_sizes"] = packed_out.batch_sizes
    if not c.enforce_sorted:
        tensors["packed.sorted_indices"] = packed_out.sorted_indices
        tensors["packed.unsorted_indices"] = packed_out.unsorted_indices
    else:
        assert packed_out.sorted_indices is None and packed_out.unsorted_indices is None

    out = {}
    for k, t_ in tensors.items():
        t_ = t_.detach().contiguous()
        if k in ("lengths", "packed.batch_sizes", "packed.sorted_indices", "packed.unsorted_indices"):
            assert t_.dtype == torch.int64, (c.name, k, t_.dtype)
        else:
            t_ = t_.float()
        assert t_.dim() > 0, (c.name, k)
        out[k] = t_
    return out, case_metadata(c), checks


def check_case(c, ref, module, params, inputs, lengths, outputs, loss_weights, loss,
               packed_in, packed_out) -> dict[str, float]:
    """The cross-checks of the docstring; returns the largest differences seen."""
    t, x = c.seq_len, inputs["input"]
    h0, c0 = inputs.get("h0"), inputs.get("c0")
    x_tm = x.transpose(0, 1) if c.batch_first else x
    out_tm = outputs["output"].transpose(0, 1) if c.batch_first else outputs["output"]
    checks: dict[str, float] = {}

    # Padding: output and grad.input exactly zero there; batch_sizes as the lengths say.
    steps = torch.arange(t).unsqueeze(1)  # [T, 1]
    pad = steps >= lengths.unsqueeze(0)  # [T, B]
    assert pad.any() == bool((lengths < t).any())
    assert bool((out_tm[pad] == 0).all()), f"{c.name}: output not zero at padding"
    grad_tm = x.grad.transpose(0, 1) if c.batch_first else x.grad
    assert bool((grad_tm[pad] == 0).all()), f"{c.name}: grad.input not zero at padding"
    assert bool((x_tm[pad] != 0).all()), f"{c.name}: padding of the input must be random"
    expected_sizes = torch.tensor([int((lengths > s).sum()) for s in range(int(lengths.max()))],
                                  dtype=torch.int64)
    assert torch.equal(packed_out.batch_sizes, expected_sizes), c.name
    assert torch.equal(packed_in.batch_sizes, expected_sizes), c.name
    assert packed_out.data.shape[0] == int(lengths.sum()), c.name
    if not c.enforce_sorted:
        stable = torch.sort(lengths, descending=True, stable=True).indices
        assert torch.equal(packed_out.sorted_indices, stable), f"{c.name}: sort is not stable"
        assert torch.equal(packed_out.sorted_indices, packed_in.sorted_indices), c.name
        assert torch.equal(packed_out.unsorted_indices[packed_out.sorted_indices], torch.arange(c.batch))
    # Packing the padded output again gives the layer's packed output bit for bit.
    repacked = pack_padded_sequence(outputs["output"], lengths, c.batch_first, c.enforce_sorted)
    assert torch.equal(repacked.data, packed_out.data), f"{c.name}: repacked output differs"

    differentiable = [x] + [s for s in (h0, c0) if s is not None] + list(params.values())
    if module is not None:
        # 1. The per-row method with the real module.
        rows = per_row(module_row_forward(c, module), x_tm, lengths, h0, c0, t)
        row_outputs = dict(zip(("output", "h_n", "c_n"), rows))
        row_outputs["output"] = rows[0].transpose(0, 1) if c.batch_first else rows[0]
        err = 0.0
        for k in outputs:
            err = max(err, assert_close(f"{c.name}: per-row {k}", row_outputs[k], outputs[k]))
        row_loss = sum((row_outputs[k] * loss_weights[k]).sum() for k in outputs)
        err = max(err, assert_close(f"{c.name}: per-row loss", row_loss.reshape(1), loss.reshape(1)))
        grads = torch.autograd.grad(row_loss, differentiable)
        for p, g in zip(differentiable, grads):
            err = max(err, assert_close(f"{c.name}: per-row gradient", g, p.grad))
        checks["per_row_module"] = err
        # 2. The per-row method with make_variant_fixtures.reference_forward.
        with torch.no_grad():
            rows = per_row(reference_row_forward(ref, params), x_tm, lengths, h0, c0, t)
        err = assert_close(f"{c.name}: reference output", rows[0], out_tm)
        err = max(err, assert_close(f"{c.name}: reference h_n", rows[1], outputs["h_n"]))
        if c.is_lstm:
            err = max(err, assert_close(f"{c.name}: reference c_n", rows[2], outputs["c_n"]))
        checks["per_row_reference"] = err
        if c.kind == "rnn_relu":
            assert min(v.KINKS) > v.KINK_MARGIN, f"{c.name}: pre-activation near the ReLU kink"
        # 3. Every length T: the plain unpacked run.
        if c.lengths_mode == "full":
            y, final = module(x, module_state(c, h0, c0))
            h, cell = split_final(c, final)
            plain = {"output": y, "h_n": h, "c_n": cell}
            err = 0.0
            for k in outputs:
                err = max(err, assert_close(f"{c.name}: unpacked {k}", plain[k], outputs[k]))
            plain_loss = sum((plain[k] * loss_weights[k]).sum() for k in outputs)
            for p, g in zip(differentiable, torch.autograd.grad(plain_loss, differentiable)):
                err = max(err, assert_close(f"{c.name}: unpacked gradient", g, p.grad))
            checks["unpacked"] = err
    if not ref.layer_norm and ref.proj == 0:
        with torch.no_grad():
            outs = {"output": out_tm, "h_n": outputs["h_n"]}
            if c.is_lstm:
                outs["c_n"] = outputs["c_n"]
            checks["onnx"] = onnx_check(c, ref, params, x_tm, lengths, h0, c0, outs)
    return checks


def main() -> None:
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    torch.backends.mkldnn.enabled = False
    all_cases = cases()
    # Compute (and cross-check) everything before touching the output folder.
    results = [(c, *fixture(c)) for c in all_cases]

    ties = {srt: any(len(set(t["lengths"].tolist())) < c.batch for c, t, _, _ in results
                     if c.enforce_sorted == srt and c.lengths_mode == "random")
            for srt in (False, True)}
    assert all(ties.values()), f"lengths without ties: {ties}"
    for kind in STANDARD_KINDS:
        mine = [c for c in all_cases if c.kind == kind and not c.is_variant]
        for field in ("batch_first", "state", "enforce_sorted", "bias", "bidirectional"):
            assert {getattr(c, field) for c in mine} == {False, True}, (kind, field)
        assert {c.layers for c in mine} == {1, 2, 3}, kind

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    total = 0
    for c, tensors, meta, checks in results:
        path = OUT / f"{c.name}.safetensors"
        save_file(tensors, str(path), metadata=meta)
        canonicalize_header(path)
        total += path.stat().st_size
        note = "  ".join(f"{k} {val:.1e}" for k, val in checks.items())
        print(f"  {c.name:<52} {len(tensors):3d} tensors  lengths {tensors['lengths'].tolist()}  {note}")
    for path in OUT.iterdir():
        for key, t in load_file(str(path)).items():
            assert t.dtype in (torch.float32, torch.int64), (path, key)
            assert bool(torch.isfinite(t.float()).all()), (path, key)
    n_var = sum(c.is_variant for c in all_cases)
    print(f"packed: {len(results)} files ({n_var} variants), {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
