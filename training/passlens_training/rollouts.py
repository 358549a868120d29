"""Forking rollouts (paper section 3.2): a trunk, its K lowest-probability generated tokens
as forks, and M samples from each fork that keep the trunk's tokens before it."""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from .apps import Problem
from .code_extraction import code_start_token, extract_code
from .generation import Backend, Request, Sample
from .judging import Judge


@dataclasses.dataclass
class ForkingConfig:
    num_forks: int = 6  # K
    samples_per_fork: int = 6  # M
    max_new_tokens: int = 1024
    min_fork_distance: int = 0  # 0 = forks may be adjacent
    trunk_policy: str = "any"  # any | must-pass
    trunk_retries: int = 3  # R, for must-pass


def select_forks(logprobs: list[float], k: int, min_distance: int = 0) -> list[int]:
    """Positions of the k lowest log-probabilities (ties → earliest), at least `min_distance`
    apart when > 0; returned in rank order (rank 0 = least likely)."""
    chosen: list[int] = []
    for pos in sorted(range(len(logprobs)), key=lambda i: (logprobs[i], i)):
        if len(chosen) == k:
            break
        if min_distance > 0 and any(abs(pos - c) < min_distance for c in chosen):
            continue
        chosen.append(pos)
    return chosen


def problem_seed(seed: int, problem_id: str) -> int:
    """A per-problem seed independent of processing order, so resumed runs reproduce."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{problem_id}".encode()).digest()[:4], "little")


def generate_problem_rollouts(problem: Problem, prompt_ids: list[int], backend: Backend, judge: Judge,
                              tokenizer, cfg: ForkingConfig, seed: int) -> list[dict[str, Any]]:
    """1 + K×M judged rollouts of one problem (fewer forks when the trunk is shorter than K).
    Records carry everything but the dataset-level fields (split, prompt text, generator...)."""
    base = problem_seed(seed, problem.problem_id)
    attempts = cfg.trunk_retries + 1 if cfg.trunk_policy == "must-pass" else 1
    if cfg.trunk_policy not in ("any", "must-pass"):
        raise ValueError(f"trunk_policy must be 'any' or 'must-pass', got '{cfg.trunk_policy}'")
    for attempt in range(attempts):
        trunk = backend.generate([Request(prompt_ids, 1, cfg.max_new_tokens, base + attempt)])[0][0]
        trunk_record = _record(problem, tokenizer, trunk, "t0", None, None, None, base + attempt)
        _label([trunk_record], problem, judge)
        if trunk_record["label"]:
            break
    forks = select_forks(trunk.logprobs, cfg.num_forks, cfg.min_fork_distance)
    requests = [Request(prompt_ids + trunk.token_ids[:pos], cfg.samples_per_fork, cfg.max_new_tokens - pos,
                        base + attempts + rank) for rank, pos in enumerate(forks)]
    branches = []
    for (rank, pos), req, samples in zip(enumerate(forks), requests, backend.generate(requests)):
        for s, sample in enumerate(samples):
            full = Sample(trunk.token_ids[:pos] + sample.token_ids, trunk.logprobs[:pos] + sample.logprobs)
            branches.append(_record(problem, tokenizer, full, f"f{rank}s{s}", pos, rank, s, req.seed))
    _label(branches, problem, judge)
    return [trunk_record] + branches


def _record(problem: Problem, tokenizer, sample: Sample, suffix: str, pos, rank, index, seed: int) -> dict[str, Any]:
    text = tokenizer.decode(sample.token_ids, skip_special_tokens=True)
    code, offset = extract_code(text)
    return {
        "rollout_id": f"{problem.problem_id}/{suffix}",
        "problem_id": problem.problem_id,
        "token_ids": sample.token_ids,
        "logprobs": sample.logprobs,
        "text": text,
        "code": code,
        "code_start": code_start_token(tokenizer, sample.token_ids, offset),
        "branch": {"trunk_id": f"{problem.problem_id}/t0", "role": "trunk" if pos is None else "branch",
                   "fork_position": pos, "fork_rank": rank, "sample_index": index},
        "seed": seed,
    }


def _label(records: list[dict[str, Any]], problem: Problem, judge: Judge) -> None:
    verdicts = judge.judge([(r["rollout_id"], r["code"], problem.tests) for r in records])
    for r, v in zip(records, verdicts):
        r["label"] = bool(v["passed"])
        r["test_results"] = v.get("results", [])
        r["verdicts"] = v.get("verdicts", [])
