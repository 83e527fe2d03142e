#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under corpus/<target>/: a few small, valid inputs
each (standard library only, deterministic). Run from anywhere: python3 Tools/fuzz/make_corpus.py"""
import gzip
import json
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data, **kw):
    # mtime=0 keeps the bytes the same from run to run
    return gzip.compress(data, compresslevel=9, mtime=0, **kw)


# --- safetensors -------------------------------------------------------------------------------

DTYPES = {"F32": ("<f", 4), "F64": ("<d", 8), "F16": ("<e", 2), "I64": ("<q", 8), "I32": ("<i", 4),
          "I16": ("<h", 2), "I8": ("<b", 1), "U8": ("<B", 1), "BOOL": ("<?", 1)}


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, values); BF16 values are given as raw uint16 bits."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, values in tensors:
        if dtype == "BF16":
            blob = b"".join(struct.pack("<H", v) for v in values)
        else:
            fmt, _ = DTYPES[dtype]
            blob = b"".join(struct.pack(fmt, v) for v in values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def values(n, scale=0.125):
    return [((i % 7) - 3) * scale for i in range(n)]


def lstm_tensors(prefix, inputs, hidden, gates, layers=1, bias=True, reverse=False):
    out = []
    for layer in range(layers):
        for suffix in ([""] + (["_reverse"] if reverse else [])):
            fan = inputs if layer == 0 else hidden * (2 if reverse else 1)
            out.append((f"{prefix}weight_ih_l{layer}{suffix}", "F32", [gates * hidden, fan], values(gates * hidden * fan)))
            out.append((f"{prefix}weight_hh_l{layer}{suffix}", "F32", [gates * hidden, hidden], values(gates * hidden * hidden)))
            if bias:
                out.append((f"{prefix}bias_ih_l{layer}{suffix}", "F32", [gates * hidden], values(gates * hidden)))
                out.append((f"{prefix}bias_hh_l{layer}{suffix}", "F32", [gates * hidden], values(gates * hidden)))
    return out


recurrent_lstm = {"format": "recurrent", "kind": "lstm", "input_size": "2", "hidden_size": "2", "num_layers": "1",
                  "bidirectional": "false", "bias": "true", "proj_size": "0", "batch_first": "true", "prefix": "rnn.",
                  "head_prefix": "out.", "head_output_size": "3", "head_bias": "true", "head_placement": "last_step"}
write("safetensors", "lstm-head-metadata.safetensors", safetensors(
    lstm_tensors("rnn.", 2, 2, 4) + [("out.weight", "F32", [3, 2], values(6)), ("out.bias", "F32", [3], values(3))],
    recurrent_lstm))
write("safetensors", "gru-embedding-statedict.safetensors", safetensors(
    [("embed.weight", "F32", [5, 2], values(10))] + lstm_tensors("rnn.", 2, 2, 3)
    + [("fc.weight", "F32", [5, 2], values(10)), ("fc.bias", "F32", [5], values(5))]))
write("safetensors", "rnn-bidirectional-two-layers.safetensors", safetensors(
    lstm_tensors("", 3, 2, 1, layers=2, bias=False, reverse=True), {"note": "a \"quoted\" \\ value\n"}))
write("safetensors", "dtypes.safetensors", safetensors([
    ("a", "F16", [2, 2], [0.5, -1.0, 65504.0, 6e-8]),
    ("b", "BF16", [3], [0x3F80, 0x7F80, 0xFFC0]),
    ("c", "F64", [], [3.25]),
    ("d", "I64", [2], [-(2 ** 40), 7]),
    ("e", "U8", [0, 4], []),
    ("f", "I8", [2], [-128, 127]),
]))

# --- npy ---------------------------------------------------------------------------------------


def npy(descr, shape, data, fortran=False, version=1):
    shape_text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    lsize = 2 if version == 1 else 4
    pad = 64 - (10 + (lsize - 2) + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    length = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode("latin-1") + data


write("npy", "f4-2x3.npy", npy("<f4", [2, 3], struct.pack("<6f", *values(6))))
write("npy", "f8-scalar.npy", npy("<f8", [], struct.pack("<d", -2.5)))
write("npy", "f2-1d.npy", npy("<f2", [3], struct.pack("<3e", 1.0, -0.0, 65504.0)))
write("npy", "i8-v2.npy", npy("<i8", [2, 1], struct.pack("<2q", -7, 2 ** 50), version=2))
write("npy", "u1.npy", npy("|u1", [2, 2], bytes([1, 2, 3, 4])))
write("npy", "f4-fortran-refused.npy", npy("<f4", [2, 2], struct.pack("<4f", *values(4)), fortran=True))
write("npy", "b1-empty.npy", npy("|b1", [0, 3], b""))

# --- model (the text format of Sources/fuzz-model/main.swift) ------------------------------------


def model_text(metadata=None, tensors=(), overrides=()):
    lines = [f"{k}={v}" for k, v in (metadata or {}).items()]
    lines += [f"{name}:{','.join(map(str, shape))}" for name, shape in tensors]
    lines += [f"@{k}={v}" for k, v in overrides]
    return "\n".join(lines) + "\n"


def layer_shapes(prefix, inputs, hidden, gates, layers=1, bias=True, reverse=False, proj=0):
    out = []
    h_out = proj or hidden
    for layer in range(layers):
        for suffix in ([""] + (["_reverse"] if reverse else [])):
            fan = inputs if layer == 0 else h_out * (2 if reverse else 1)
            out.append((f"{prefix}weight_ih_l{layer}{suffix}", [gates * hidden, fan]))
            out.append((f"{prefix}weight_hh_l{layer}{suffix}", [gates * hidden, h_out]))
            if bias:
                out.append((f"{prefix}bias_ih_l{layer}{suffix}", [gates * hidden]))
                out.append((f"{prefix}bias_hh_l{layer}{suffix}", [gates * hidden]))
            if proj:
                out.append((f"{prefix}weight_hr_l{layer}{suffix}", [proj, hidden]))
    return out


write("model", "metadata-lstm-head.txt", model_text(
    recurrent_lstm, layer_shapes("rnn.", 2, 2, 4) + [("out.weight", [3, 2]), ("out.bias", [3])]))
write("model", "metadata-gru-embedding.txt", model_text(
    {"format": "recurrent", "kind": "gru", "input_size": "3", "hidden_size": "2", "num_layers": "2",
     "bidirectional": "true", "bias": "false", "proj_size": "0", "batch_first": "false", "prefix": "",
     "input": "embedding", "embedding_prefix": "emb.", "embedding_count": "4"},
    [("emb.weight", [4, 3])] + layer_shapes("", 3, 2, 3, layers=2, bias=False, reverse=True)))
write("model", "metadata-rnn-onehot.txt", model_text(
    {"format": "recurrent", "kind": "rnn", "nonlinearity": "relu", "input_size": "4", "hidden_size": "3",
     "num_layers": "1", "bidirectional": "false", "bias": "true", "proj_size": "0", "batch_first": "false",
     "prefix": "", "input": "one_hot", "head_prefix": "head.", "head_output_size": "4", "head_bias": "false",
     "head_placement": "every_step"},
    layer_shapes("", 4, 3, 1) + [("head.weight", [4, 3])]))
write("model", "statedict-lstm-proj.txt", model_text(
    None, layer_shapes("lstm.", 3, 4, 4, layers=2, proj=2) + [("fc.weight", [5, 2]), ("fc.bias", [5])],
    [("batch_first", "true"), ("head_placement", "last_step")]))
write("model", "statedict-gru-embedding-head.txt", model_text(
    None, [("embedding.weight", [6, 2])] + layer_shapes("rnn.", 2, 3, 3) + [("decoder.weight", [6, 3]), ("decoder.bias", [6])]))
write("model", "statedict-rnn-bidirectional.txt", model_text(
    None, layer_shapes("", 2, 2, 1, reverse=True), [("nonlinearity", "relu")]))

# --- csv ---------------------------------------------------------------------------------------

write("csv", "prices.csv", "Date,Open,Close,Volume\n2020-01-02,158.78,160.62,22622100\n2020-01-03,158.32,158.62,21116200\n")
write("csv", "quoted.csv", '\ufeffname,"a, b","say ""hi"""\r\nx,"1\n2",-0.5e3\r\ny, 3 ,"z"\r\n')
write("csv", "header-only.csv", "a,b,c")
write("csv", "nonfinite.csv", "x,y\nnan,1\ninf,1e999\n,2\n")

# --- idx ---------------------------------------------------------------------------------------


def idx(type_code, shape, data):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + data


write("idx", "labels-ubyte.idx", idx(0x08, [5], bytes([7, 2, 1, 0, 4])))
write("idx", "images-ubyte.idx", idx(0x08, [2, 3, 3], bytes(range(0, 180, 10))))
write("idx", "float.idx", idx(0x0D, [2, 2], struct.pack(">4f", 0.5, -1.0, float("inf"), 3.0)))
write("idx", "short-double.idx", idx(0x0B, [3], struct.pack(">3h", -1, 0, 32767)))
write("idx", "int-empty.idx", idx(0x0C, [0, 5], b""))
write("idx", "labels.idx.gz", gz(idx(0x08, [4], bytes([3, 1, 4, 1]))))
write("idx", "double.idx", idx(0x0E, [1, 2], struct.pack(">2d", 1e-300, -2.0)))

# --- gzip --------------------------------------------------------------------------------------

text = b"It was the best of times, it was the worst of times, it was the age of wisdom. " * 4
write("gzip", "text.gz", gz(text))
write("gzip", "stored.gz", gzip.compress(bytes(range(64)), compresslevel=0, mtime=0))  # a stored (uncompressed) block
write("gzip", "empty.gz", gz(b""))
write("gzip", "two-members.gz", gz(b"first member\n") + gz(b"second member\n"))
# FEXTRA, FNAME, FCOMMENT and FHCRC set: a header with every optional field.
body = gzip.compress(b"abcabcabcabc", mtime=0)[10:]
header = bytes([0x1F, 0x8B, 8, 0x1E, 0, 0, 0, 0, 0, 3]) + struct.pack("<H", 4) + b"AB\x00\x00" + b"name.txt\x00" + b"a comment\x00"
header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
write("gzip", "all-header-fields.gz", header + body)
