"""Export benchmark: peak memory of exporting a critic past protobuf's 2 GB limit and of
converting its variants, against the bytes of its fp32 weights (goal: at most 1.5x). Prints
figures and ratios side by side; asserts nothing.

    PYTHONPATH=training .venv/bin/python benchmarks/critic/bench_export.py [--layers 2] [--variants int4,fp16,int8] [--before COMMIT] [--keep]

Uses the Phi-4-mini-width fixture's checkpoint (test/fixtures/models.ts
phi4MiniWidthCriticBundle, built when missing: minutes). Each step runs in its own process, so
its peak resident set size (wait4's ru_maxrss) is its own:
  baseline  the interpreter with torch, transformers and onnxruntime imported (what every step pays);
  export    `python -m passlens_training.export --checkpoint CKPT --out DIR` (load the checkpoint,
            export fp32, record the sample);
  <dtype>   onnx_graph.CRITIC_VARIANT_BUILDERS[dtype](DIR/model.onnx, DIR/model_<dtype>.onnx).
The same steps run again with the training package of commit --before (default 8e404cb, before
the weights streamed; `git archive` into .cache/bench/), side by side; "--before ''" skips them.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"


def measure(args: list[str], training: Path = ROOT / "training") -> tuple[float, float]:
    """(peak RSS in bytes, wall seconds) of one child process running the package in
    `training`; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": str(training), "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{stderr.decode(errors='replace')[-3000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - start


def archived_training(commit: str) -> Path:
    """The training package (and the contracts it reads) of `commit`, archived once under .cache/bench."""
    folder = ROOT / ".cache" / "bench" / f"training-{commit}"
    if not (folder / "training" / "passlens_training").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "training", "contracts", "python-sandbox"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "training"


def run_steps(checkpoint: Path, bundle: Path, variants: list[str], training: Path) -> dict[str, tuple[float, float] | str]:
    """Export then each variant with the package in `training`: {step: (peak RSS, seconds) or why it failed}."""
    script = ("import sys; from pathlib import Path; from passlens_training.export import onnx_graph as g; "
              "getattr(g, 'CRITIC_VARIANT_BUILDERS', g.VARIANT_BUILDERS)[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))")
    steps = {"baseline": [str(PYTHON), "-c", "import torch, transformers, onnxruntime, onnx"],
             "export fp32": [str(PYTHON), "-m", "passlens_training.export", "--checkpoint", str(checkpoint), "--out", str(bundle)]}
    steps.update({f"variant {d}": [str(PYTHON), "-c", script, d, str(bundle / "model.onnx"), str(bundle / f"model_{d}.onnx")] for d in variants})
    results: dict[str, tuple[float, float] | str] = {}
    for name, args in steps.items():
        try:
            results[name] = measure(args, training)
        except RuntimeError as err:
            results[name] = "failed: " + str(err).strip().splitlines()[-1][:90]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--variants", default="int4,fp16,int8")
    parser.add_argument("--before", default="8e404cb", help="commit whose export to measure beside this one ('' to skip)")
    parser.add_argument("--keep", action="store_true", help="keep the exported bundles (printed) instead of deleting them")
    args = parser.parse_args()
    fixture = ROOT / ".cache" / "fixtures" / f"phi4-mini-width-{args.layers}-layers"
    # Built in a child: a child's ru_maxrss starts from its parent's size at fork (and keeps
    # it across exec), so this process must stay small.
    measure([str(PYTHON), "-m", "passlens_training.testing.fixtures", "phi4-mini-width-bundle", str(fixture), "--layers", str(args.layers)])
    checkpoint = fixture.with_name(fixture.name + ".checkpoint")
    work = Path(tempfile.mkdtemp(prefix="passlens-bench-export-", dir=ROOT / ".cache"))
    variants = [d for d in args.variants.split(",") if d]
    try:
        after = run_steps(checkpoint, work / "after", variants, ROOT / "training")
        weights = (work / "after" / "model.onnx.data").stat().st_size
        sizes = {p.name: p.stat().st_size for p in (work / "after").iterdir() if p.name.startswith("model")}
        before = run_steps(checkpoint, work / "before", variants, archived_training(args.before)) if args.before else {}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    def cell(result) -> str:
        if result is None:
            return ""
        if isinstance(result, str):
            return result
        rss, seconds = result
        return f"{rss / 2**30:6.2f} GiB {rss / weights:5.2f}x {seconds:5.0f} s"

    print(f"export benchmark: Phi-4-mini width, {args.layers} layers; fp32 weights {weights / 2**30:.2f} GiB (model.onnx.data); peak RSS, x fp32 weight bytes, wall")
    print(f"{'step':<14} | {'this tree':<26} | {'before (' + args.before + ')' if args.before else ''}")
    for name, result in after.items():
        print(f"{name:<14} | {cell(result):<26} | {cell(before.get(name))}")
    print("files (this tree): " + ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in sorted(sizes.items())))
    if args.keep:
        print(f"kept {work}")


if __name__ == "__main__":
    main()
