#!/usr/bin/env python3
"""Write small files with the real `safetensors` and `numpy` libraries, for the Swift readers' tests.

Usage (from the repository root): python3 Tools/make_io_fixtures.py
Versions: those pinned in Tools/requirements.txt (torch 2.15.0, safetensors 0.8.0).
Writes Tests/RecurrentTests/Fixtures/io/ (a few KB). Unless noted, every array holds
arange(n) * 0.25 - 1, reshaped (exact in every float type used), so the Swift tests recompute the
expected values instead of reading an oracle. SafeTensorsTests.swift and NPYTests.swift read them.
"""
import os
import shutil

import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

OUT = os.path.join("Tests", "RecurrentTests", "Fixtures", "io")


def values(shape, dtype=torch.float32):
    n = int(np.prod(shape)) if shape else 1
    return (torch.arange(n, dtype=torch.float64) * 0.25 - 1).reshape(shape).to(dtype)


def arr(shape, dtype=np.float32):
    n = int(np.prod(shape)) if shape else 1
    return (np.arange(n) * 0.25 - 1).reshape(shape).astype(dtype)


def special(dtype):
    """Values whose decoding is checked bit by bit: infinities, NaN, -0, the smallest subnormal, the largest finite."""
    info = torch.finfo(dtype)
    tiny = info.smallest_normal * info.eps  # smallest subnormal: 2^-24 for F16, 2^-133 for BF16
    return torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, tiny, -tiny * 3, info.max, -2.5], dtype=dtype)


def st(name, tensors, metadata=None):
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=metadata)


def main():
    assert torch.__version__.startswith("2.15"), torch.__version__
    assert safetensors.__version__ == "0.8.0", safetensors.__version__
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)

    # safetensors, via safetensors.torch.save_file.
    st("f32_meta", {"a": values([2, 3]), "b": values([4]), "scalar": values([])},
       metadata={"kind": "lstm", "note": "written by safetensors"})
    # F32 without metadata or with one key: Recurrent's writer reproduces these files byte for byte.
    st("no_meta", {"weight": values([3, 2]), "bias": values([3]), "Z": values([]), "empty": values([0, 2])})
    st("one_meta", {"w": values([2, 2])}, metadata={"format": "pt"})
    for name, dtype in [("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
        tensors = {"x": values([2, 5], dtype), "empty": torch.zeros([0, 3], dtype=dtype)}
        if dtype != torch.float64:
            tensors["special"] = special(dtype)
        st(name, tensors)
    st("i64", {"x": torch.arange(10, dtype=torch.int64).reshape(2, 5) - 3, "empty": torch.zeros([0, 3], dtype=torch.int64)})
    st("ints", {"i32": torch.tensor([-2147483648, -1, 0, 7, 2147483647], dtype=torch.int32),
                "i16": torch.tensor([-32768, -1, 0, 32767], dtype=torch.int16),
                "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
                "u8": torch.tensor([0, 1, 200, 255], dtype=torch.uint8),
                "bool": torch.tensor([True, False, True], dtype=torch.bool)})
    st("f8", {"e4m3": values([10], torch.float8_e4m3fn), "e5m2": values([10], torch.float8_e5m2)})
    # Several dtypes in one file (the writer orders the data by alignment, then name).
    st("mixed", {"d": values([3], torch.float64), "f": values([2, 2]), "h": values([5], torch.float16),
                 "q": torch.arange(3, dtype=torch.int64), "z": torch.zeros([0], dtype=torch.float32)})
    # Names and metadata that need JSON escapes or are not ASCII.
    st("escapes", {'layer/0."q"': values([2]), "ünï\\x": values([1])},
       metadata={"note": 'tab\there, "quoted", back\\slash, newline\n, ünïcödé €'})

    # .npy, via numpy.
    np.save(os.path.join(OUT, "1d.npy"), arr([7]))
    np.save(os.path.join(OUT, "2d.npy"), arr([2, 3]))
    np.save(os.path.join(OUT, "scalar.npy"), arr([]))
    np.save(os.path.join(OUT, "empty.npy"), arr([0, 3]))
    np.save(os.path.join(OUT, "2d_f8.npy"), arr([3, 4], np.float64))
    np.save(os.path.join(OUT, "f2.npy"), arr([5], np.float16))
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(OUT, f"v{version[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, arr([2, 3, 2]), version=version)
    np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(arr([3, 4])))
    np.save(os.path.join(OUT, "bigendian.npy"), arr([4]).astype(">f4"))
    np.save(os.path.join(OUT, "int32.npy"), np.arange(4, dtype=np.int32))
    print("wrote", " ".join(sorted(os.listdir(OUT))))


if __name__ == "__main__":
    main()
