"""Rollouts/s and labels/s on CPU with a tiny random Phi-3 generator.

    python benchmarks/rollouts/bench_rollouts.py [--problems 4 --forks 6 --samples 6 --max-new-tokens 64]

Generation: the forking scheme (1 trunk + K forks × M samples per problem), with the M samples
of a fork batched in one generate call, against the baseline of one call per sample.
Labels: the sandbox judge over the APPS sample's reference solutions (real programs; the random
model's output has no code to run), with 1 worker and with --workers.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from passlens_training.data.apps import load_problems
from passlens_training.rollouts.generation import HFBackend, Request, SamplingConfig
from passlens_training.rollouts.judging import Judge
from passlens_training.data.prompts import build_prompt
from passlens_training.contracts import load_templates
from passlens_training.rollouts.forking import problem_seed, select_forks
from passlens_training.testing.tiny import save_tiny_causal_lm

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "apps-sample" / "problems.jsonl"


def rollouts_per_s(backend, prompts, k, m, max_new, batched: bool) -> float:
    count, start = 0, time.perf_counter()
    for i, prompt in enumerate(prompts):
        trunk = backend.generate([Request(prompt, 1, max_new, i)])[0][0]
        count += 1
        for rank, pos in enumerate(select_forks(trunk.logprobs, k)):
            prefix = prompt + trunk.token_ids[:pos]
            if batched:
                requests = [Request(prefix, m, max_new - pos, problem_seed(i, str(rank)))]
            else:
                requests = [Request(prefix, 1, max_new - pos, problem_seed(i, f"{rank}/{s}")) for s in range(m)]
            count += sum(len(r) for r in backend.generate(requests))
    return count / (time.perf_counter() - start)


def labels_per_s(problems, workers: int) -> float:
    items = [(f"{p.problem_id}/{j}", sol, p.tests) for p in problems for j, sol in enumerate(p.solutions[:3])]
    judge = Judge(workers=workers)
    start = time.perf_counter()
    verdicts = judge.judge(items)
    seconds = time.perf_counter() - start
    print(f"  judged {len(items)} reference solutions with {workers} worker(s): "
          f"{sum(v['passed'] for v in verdicts)} pass, {seconds:.1f} s")
    return len(items) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--forks", type=int, default=6)
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    problems = load_problems(str(SAMPLE))
    with tempfile.TemporaryDirectory() as tmp:
        backend = HFBackend(str(save_tiny_causal_lm(tmp)), SamplingConfig())
        templates = load_templates()
        prompts = [build_prompt(p, backend.tokenizer, templates)[1] for p in problems[: args.problems]]
        backend.generate([Request(prompts[0], 2, 4, 0)])  # warm-up
        shape = f"{args.problems} problems x (1 + {args.forks}x{args.samples}), {args.max_new_tokens} new tokens"
        baseline = rollouts_per_s(backend, prompts, args.forks, args.samples, args.max_new_tokens, batched=False)
        batched = rollouts_per_s(backend, prompts, args.forks, args.samples, args.max_new_tokens, batched=True)
    print(f"generation ({shape}): one call per sample {baseline:.1f} rollouts/s; "
          f"M samples per call {batched:.1f} rollouts/s ({batched / baseline:.2f}x)")
    one = labels_per_s(problems, 1)
    many = labels_per_s(problems, args.workers)
    print(f"labels: 1 worker {one:.1f} labels/s; {args.workers} workers {many:.1f} labels/s ({many / one:.2f}x)")


if __name__ == "__main__":
    main()
