#!/usr/bin/env python3
"""Run models exported by Recurrent in ONNX Runtime and compare with Swift's outputs (by hand).

    mkdir -p /tmp/onnx-export
    RECURRENT_ONNX_EXPORT_DIR=/tmp/onnx-export swift test --filter ONNXExportTests
    python3 Tools/check_onnx_export.py /tmp/onnx-export

For each NAME.onnx beside NAME.safetensors (``feed.X`` and ``swift.<output>``, written by the
test): onnx.checker.check_model(full_check=True), then ONNX Runtime (one thread) on feed.X, each
output within 1e-5 (relative, 1e-6 absolute) of Swift's. Exits non-zero on any failure.
"""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file


def main(folder: str) -> int:
    paths = sorted(Path(folder).glob("*.onnx"))
    if not paths:
        print(f"no .onnx files in {folder}")
        return 1
    failed = 0
    for path in paths:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        data = load_file(str(path.with_suffix(".safetensors")))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        got = dict(zip(names, sess.run(names, {"X": data["feed.X"]})))
        ok = True
        for k in names:
            want = data[f"swift.{k}"]
            assert got[k].shape == want.shape, (path.name, k, got[k].shape, want.shape)
            same = bool(np.allclose(got[k], want, rtol=1e-5, atol=1e-6))
            failed += not same
            ok = ok and same
        print(f"  {path.stem:<32} checker ok, ORT {'matches' if ok else 'DIFFERS'} "
              f"(max |diff| {max(float(np.max(np.abs(got[k] - data[f'swift.{k}']))) for k in names):.2e})")
    print(f"{len(paths)} exported models, {failed} outputs differ (onnx {onnx.__version__}, onnxruntime {ort.__version__})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/onnx-export"))
