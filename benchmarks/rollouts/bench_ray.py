"""build-dataset on this machine: the local engine (one process) beside the Ray engine (a local
Ray instance, 2 CPU generation workers, a judge pool), same config, side by side.

    .venv/bin/python benchmarks/rollouts/bench_ray.py [--problems 8 --forks 2 --samples 2 --max-new-tokens 32]

Each engine runs as its own `build-dataset` command on a tiny random Phi-3 (built once) and the
APPS sample. Printed per engine: the command's wall time (model loading and, for Ray, starting
the instance and its workers included), the build session's rollouts/s (and after start-up: once
every engine is loaded), tokens/s and judge tests/s from throughput.json, per worker; then the
ratios and whether the runs wrote the same records.
The local engine runs twice: with torch's default threads (all cores) and with 1 thread, as a
Ray worker given one CPU runs; on a loaded machine the first can be far slower than the second
(threads spinning for cores others hold). Records agree with the 1-thread run bit for bit; with
other thread counts, in tokens nearly always (docs/dataset-at-scale.md). The random model writes
no code, so the judge runs no program here.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / ".." / "shared" / "apps-sample" / "problems.jsonl"
sys.path.insert(0, str(REPO / "training"))

from passlens_training.records import read_dataset_shards, read_throughput  # noqa: E402
from passlens_training.testing.tiny import save_tiny_causal_lm  # noqa: E402


def run(label: str, engine: str, torch_threads: int, tmp: Path, generator: Path, args) -> tuple[float, dict, Path]:
    out = tmp / label
    config = {
        "data": {"source": str(SAMPLE), "test_fraction": 0.5, "split_seed": 0, "limit": args.problems // 2},
        "rollouts": {"output_dir": str(out), "engine": engine, "generator": str(generator),
                     "max_new_tokens": args.max_new_tokens, "num_forks": args.forks, "samples_per_fork": args.samples,
                     "judge_workers": 1, "exclude_no_pass": False, "torch_threads": torch_threads},
        "ray": {"workers": args.workers, "worker_cpus": 1, "judge_cpus": 1, "num_cpus": args.workers + 1,
                "object_store_memory_mb": 100},
    }
    path = tmp / f"{label}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO / "training")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "passlens_training.rollouts", "--config", str(path), "--no-progress"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, read_throughput(out)[-1], out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--forks", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        generator = save_tiny_causal_lm(tmp / "gen", seed=1)
        runs = {"local, torch threads: all cores": ("local", 0), "local, 1 torch thread": ("local", 1),
                f"ray, {args.workers} workers x 1 thread": ("ray", 0)}
        results = {label: run(f"run{i}", engine, threads, tmp, generator, args)
                   for i, (label, (engine, threads)) in enumerate(runs.items())}
        shape = f"{args.problems} problems x (1 + {args.forks}x{args.samples}), {args.max_new_tokens} new tokens, {os.cpu_count()} cores"
        print(f"build-dataset ({shape}):")
        for label, (wall, session, _) in results.items():
            print(f"  {label:32s}: command {wall:6.1f} s; session {session['wall_s']:6.1f} s, {session['rollouts']} rollouts, "
                  f"{session['rollouts_per_s']:.2f} rollouts/s, {session['tokens_per_s']:.1f} tokens/s; after "
                  f"{session['startup_s']:.1f} s of start-up {session['rollouts_per_s_after_startup']:.2f} rollouts/s")
            for w in session["workers"]:
                print(f"         {w['worker']}: {w['problems']} problems, {w['rollouts_per_s']:.2f} rollouts/s, "
                      f"engine {w['tokens_per_s']} tokens/s, judge {w['judge_tests_per_s']} tests/s "
                      f"(waited {w['judge_wait_s']:.1f} s for verdicts)")
        *locals_, ray = results.values()
        for label, local in zip(results, locals_):
            print(f"  ray / {label}: {ray[1]['rollouts_per_s'] / local[1]['rollouts_per_s']:.2f}x rollouts/s (session), "
                  f"{ray[1]['rollouts_per_s_after_startup'] / local[1]['rollouts_per_s_after_startup']:.2f}x after start-up, "
                  f"{local[0] / ray[0]:.2f}x by command time")

        def key(out):
            return sorted((r["rollout_id"], tuple(r["token_ids"])) for r in read_dataset_shards(out))

        print(f"  same rollouts (ids and tokens) as ray: {[key(local[2]) == key(ray[2]) for local in locals_]}")


if __name__ == "__main__":
    main()
