#!/usr/bin/env python3
"""Write small files with the real `safetensors` and `numpy` libraries, for the Swift readers' tests.

Usage (from the repository root): python3 Tools/make_io_fixtures.py
Writes Tests/RecurrentTests/Fixtures/io/. Every array holds arange(n) * 0.25 - 1 (exact in every
float type used), reshaped; the Swift tests recompute the same values.
"""
import os
import shutil

import numpy as np
import torch
from safetensors.torch import save_file

OUT = os.path.join("Tests", "RecurrentTests", "Fixtures", "io")


def values(shape, dtype=torch.float32):
    n = int(np.prod(shape)) if shape else 1
    return (torch.arange(n, dtype=torch.float64) * 0.25 - 1).reshape(shape).to(dtype)


def main():
    assert torch.__version__.startswith("2.15"), torch.__version__
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    save_file({"a": values([2, 3]), "b": values([4]), "scalar": values([])},
              os.path.join(OUT, "f32_meta.safetensors"), metadata={"kind": "lstm", "note": "written by safetensors"})
    save_file({"weight": values([3, 2])}, os.path.join(OUT, "no_meta.safetensors"))
    for name, dtype in [("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64), ("i64", torch.int64)]:
        t = values([2, 5], dtype) if dtype != torch.int64 else torch.arange(10, dtype=torch.int64).reshape(2, 5) - 3
        save_file({"x": t, "empty": torch.zeros([0, 3], dtype=dtype)}, os.path.join(OUT, name + ".safetensors"))

    def arr(shape, dtype=np.float32):
        return (np.arange(int(np.prod(shape)) if shape else 1) * 0.25 - 1).reshape(shape).astype(dtype)

    np.save(os.path.join(OUT, "1d.npy"), arr([7]))
    np.save(os.path.join(OUT, "scalar.npy"), arr([]))
    np.save(os.path.join(OUT, "2d_f8.npy"), arr([3, 4], np.float64))
    with open(os.path.join(OUT, "v2.npy"), "wb") as f:
        np.lib.format.write_array(f, arr([2, 3, 2]), version=(2, 0))
    np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(arr([3, 4])))
    np.save(os.path.join(OUT, "bigendian.npy"), arr([4]).astype(">f4"))
    np.save(os.path.join(OUT, "int32.npy"), np.arange(4, dtype=np.int32))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
