"""`train` through the shipped DeepSpeed ZeRO-3 and FSDP2 accelerate configs on one CUDA GPU, for
a lent GPU machine (the CPU tests cannot run either: accelerate enables them only on GPUs).

For each backend, on a tiny value model with 2 of 3 layers frozen and separable rollouts:
an uninterrupted run with evaluation and per-step checkpoints, then a run stopped at step 2 and
resumed to the end, compared with it; for ZeRO-3 also a resume through DeepSpeed's universal
checkpoint (the path `train` takes when the world size changed, forced here by rewriting the
checkpoint's recorded world size, since one GPU cannot host two NCCL ranks). A plain
single-process run with the same bf16 autocast is the reference the backends' figures are
printed beside. Prints a table and exits non-zero on a failed check; logs go to $OUT.

    python benchmarks/gpu/distributed_check.py            # from the repository root, ~4 min

Needs torch with CUDA, transformers, accelerate, and deepspeed for the ZeRO-3 part (skipped with
the reason when it is missing; with no index on the machine: pip install --no-index
--find-links WHEELS deepspeed, from wheels built elsewhere).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "training"), str(ROOT / "training" / "tests")]

from passlens_training.testing.tiny import save_tiny_causal_lm  # noqa: E402
from passlens_training.train.model import load_value_model  # noqa: E402
from passlens_training.train.trainer import STATE_FILE  # noqa: E402
from test_train import write_separable_dataset  # noqa: E402

CONFIGS = ROOT / "training" / "passlens_training" / "configs"
OUT = Path(os.environ.get("OUT", "distributed-check")).resolve()
TRAIN = {"batch_size": 4, "learning_rate": 3e-3, "epochs": 4, "trainable_layers": 1, "max_length": 64, "seed": 0,
         "mixed_precision": "bf16"}
# bf16 weights (DeepSpeed saves its 16-bit copy) differ from a rerun by rounding at most.
SAME_RUN_ATOL = 2e-2
failures: list[str] = []


def run(name: str, cmd: list[str], limit: float = 240) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "training"), os.environ.get("PYTHONPATH", "")]),
           "PYTHONUNBUFFERED": "1"}
    started = time.time()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        # bytes even with text=True (subprocess docs)
        (OUT / f"{name}.log").write_bytes((exc.stdout or b"") + (exc.stderr or b""))
        failures.append(f"{name} ran past {limit:.0f} s (see {OUT / name}.log)")
        print(f"  {name}: killed after {limit:.0f} s", flush=True)
        return ""
    (OUT / f"{name}.log").write_text(done.stdout + done.stderr)
    print(f"  {name}: exit {done.returncode} after {time.time() - started:.0f} s", flush=True)
    if done.returncode != 0:
        failures.append(f"{name} exited {done.returncode} (see {OUT / name}.log)")
        print("\n".join((done.stdout + done.stderr).splitlines()[-30:]))
    return done.stdout


def config(name: str, base: Path, data: Path, **extra) -> Path:
    path = OUT / f"{name}.yaml"
    section = {"base_model": str(base), "train_data": [str(data)], "eval_data": [str(data)],
               "output_dir": str(OUT / name), **TRAIN, **extra}
    path.write_text(yaml.safe_dump({"train": section}))
    return path


def launch(accelerate_config: Path, cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(accelerate_config),
            "--num_processes", "1", "--num_machines", "1", "--main_process_port", "29531",
            "-m", "passlens_training.train", "--config", str(cfg), *extra]


def max_diff(a: Path, b: Path) -> float:
    pa, pb = load_value_model(a).state_dict(), load_value_model(b).state_dict()
    return max((pa[k].float() - pb[k].float()).abs().max().item() for k in pa)


def info(run_dir: Path) -> dict:
    return json.loads((run_dir / "passlens-training.json").read_text())["metrics"]


def check(label: str, ok: bool, detail: str) -> None:
    print(f"  {'PASS' if ok else 'FAIL'} {label}: {detail}", flush=True)
    if not ok:
        failures.append(f"{label}: {detail}")


def backend(name: str, accelerate_config: Path, base: Path, data: Path, reference: Path, checkpoint_format: str) -> None:
    print(f"== {name} ({accelerate_config.name})", flush=True)
    full = config(f"{name}-full", base, data)
    run(f"{name}-full", launch(accelerate_config, full))
    split = config(f"{name}-split", base, data)
    run(f"{name}-split-part", launch(accelerate_config, split, "--set", "max_steps=2"))
    out = run(f"{name}-split-resume", launch(accelerate_config, split, "--resume"))
    full_dir, split_dir = OUT / f"{name}-full", OUT / f"{name}-split"
    if not (full_dir / "passlens-training.json").exists() or not (split_dir / "passlens-training.json").exists():
        return
    metrics = info(full_dir)
    saved = json.loads((split_dir / "checkpoints" / "step-2" / STATE_FILE).read_text())["format"]
    check(f"{name} checkpoint format", saved == checkpoint_format, f"{saved} (accelerate falls back to plain without a GPU)")
    check(f"{name} resumed at step 2", "at optimizer step 2" in out, "log line present" if "at optimizer step 2" in out else "missing")
    diff = max_diff(full_dir, split_dir)
    check(f"{name} stopped + resumed = uninterrupted", diff <= SAME_RUN_ATOL, f"max |weight diff| {diff:.2e}")
    print(f"  {name}: {metrics['steps']} steps, final loss {metrics['final_loss']:.4f}, eval {metrics['eval']}, "
          f"max |weight diff| vs plain single-process bf16 run {max_diff(full_dir, reference):.2e}", flush=True)
    if name == "deepspeed-zero3":
        universal = config(f"{name}-universal", base, data)
        target = OUT / f"{name}-universal" / "checkpoints" / "step-2"
        shutil.copytree(split_dir / "checkpoints" / "step-2", target)
        state = json.loads((target / STATE_FILE).read_text())
        (target / STATE_FILE).write_text(json.dumps({**state, "num_processes": 2}))
        run(f"{name}-universal-resume", launch(accelerate_config, universal, "--resume"))
        if (OUT / f"{name}-universal" / "passlens-training.json").exists():
            converted = (target / "universal" / "pytorch_model" / "zero").is_dir()
            check(f"{name} universal checkpoint written", converted, str(target / "universal"))
            diff = max_diff(full_dir, OUT / f"{name}-universal")
            check(f"{name} resumed through the universal format = uninterrupted", diff <= SAME_RUN_ATOL, f"max |weight diff| {diff:.2e}")


def main() -> None:
    assert torch.cuda.is_available(), "needs a CUDA GPU"
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    import accelerate
    import transformers
    print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| transformers", transformers.__version__,
          "| accelerate", accelerate.__version__, flush=True)
    base = save_tiny_causal_lm(OUT / "tiny-base", num_layers=3, hidden_size=64)
    data = write_separable_dataset(OUT / "rollouts-train-00000.jsonl", 400, n_problems=5)

    plain = config("plain", base, data)
    run("plain", [sys.executable, "-m", "passlens_training.train", "--config", str(plain)])
    if not (OUT / "plain" / "passlens-training.json").exists():
        sys.exit("the plain single-process run failed: " + "; ".join(failures))
    print(f"== plain single process: eval {info(OUT / 'plain')['eval']}", flush=True)

    if importlib.util.find_spec("deepspeed") is None:
        print("== deepspeed-zero3: SKIPPED, deepspeed is not installed (pip install -e 'training[deepspeed]')", flush=True)
    else:
        # The shipped Phi-4 ZeRO-3 settings, with micro-batches the tiny run's size.
        ds_json = json.loads((CONFIGS / "deepspeed_zero3_phi4.json").read_text())
        ds_json["train_micro_batch_size_per_gpu"] = TRAIN["batch_size"]
        (OUT / "deepspeed.json").write_text(json.dumps(ds_json))
        launch_cfg = yaml.safe_load((CONFIGS / "accelerate_deepspeed_phi4.yaml").read_text())
        launch_cfg["deepspeed_config"]["deepspeed_config_file"] = str(OUT / "deepspeed.json")
        (OUT / "accelerate_deepspeed.yaml").write_text(yaml.safe_dump(launch_cfg))
        backend("deepspeed-zero3", OUT / "accelerate_deepspeed.yaml", base, data, OUT / "plain", "deepspeed")
    backend("fsdp2", CONFIGS / "accelerate_fsdp2_phi4.yaml", base, data, OUT / "plain", "fsdp")

    print("\n".join(["== failures:", *failures]) if failures else "== all checks passed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
