"""Export benchmark: peak memory of exporting a critic past protobuf's 2 GB limit and of
converting its variants, against the bytes of its fp32 weights (goal: at most 1.5x). Prints
figures and ratios side by side; asserts nothing.

    PYTHONPATH=training .venv/bin/python benchmarks/critic/bench_export.py [--layers 2] [--variants int4,fp16,int8] [--keep]

Uses the Phi-4-mini-width fixture's checkpoint (test/fixtures/models.ts
phi4MiniWidthCriticBundle, built when missing: minutes). Each step runs in its own process, so
its peak resident set size (wait4's ru_maxrss) is its own:
  baseline  the interpreter with torch, transformers and onnxruntime imported (what every step pays);
  export    `python -m passlens_training.export --checkpoint CKPT --out DIR` (load the checkpoint,
            export fp32, record the sample);
  <dtype>   onnx_graph.VARIANT_BUILDERS[dtype](DIR/model.onnx, DIR/model_<dtype>.onnx).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"


def measure(args: list[str]) -> tuple[float, float]:
    """(peak RSS in bytes, wall seconds) of one child process; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "training"), "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{stderr.decode(errors='replace')[-3000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--variants", default="int4,fp16,int8")
    parser.add_argument("--keep", action="store_true", help="keep the exported bundle (printed) instead of deleting it")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "training"))
    from passlens_training.testing.fixtures import phi4_mini_width_bundle_fixture

    fixture = ROOT / ".cache" / "fixtures" / f"phi4-mini-width-{args.layers}-layers"
    checkpoint = phi4_mini_width_bundle_fixture(fixture, layers=args.layers)
    work = Path(tempfile.mkdtemp(prefix="passlens-bench-export-", dir=ROOT / ".cache"))
    bundle = work / "bundle"
    rows = []
    try:
        rows.append(("baseline", *measure([str(PYTHON), "-c", "import torch, transformers, onnxruntime, onnx"])))
        rows.append(("export fp32", *measure([str(PYTHON), "-m", "passlens_training.export", "--checkpoint", str(checkpoint), "--out", str(bundle)])))
        weights = (bundle / "model.onnx.data").stat().st_size
        for dtype in [d for d in args.variants.split(",") if d]:
            script = ("import sys; from pathlib import Path; from passlens_training.export.onnx_graph import VARIANT_BUILDERS; "
                      "VARIANT_BUILDERS[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))")
            rows.append((f"variant {dtype}", *measure([str(PYTHON), "-c", script, dtype, str(bundle / "model.onnx"), str(bundle / f"model_{dtype}.onnx")])))
        sizes = {p.name: p.stat().st_size for p in bundle.iterdir() if p.name.startswith("model")}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"export benchmark: Phi-4-mini width, {args.layers} layers; fp32 weights {weights / 2**30:.2f} GiB (model.onnx.data)")
    print(f"{'step':<14} | {'peak RSS':>10} | {'x weights':>9} | {'wall':>7}")
    for name, rss, seconds in rows:
        print(f"{name:<14} | {rss / 2**30:7.2f} GiB | {rss / weights:8.2f}x | {seconds:6.0f} s")
    print("files: " + ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in sorted(sizes.items())))
    if args.keep:
        print(f"kept {bundle}")


if __name__ == "__main__":
    main()
