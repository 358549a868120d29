"""Forking rollouts (paper section 3.2): a trunk, its K lowest-probability generated tokens
as forks, and M samples from each fork that keep the trunk's tokens before it; and, for the
evaluation splits, N independent samples of each problem (`generate_independent`)."""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from ..contracts import extract_code
from ..data.apps import Problem
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
    """1 + K×M judged rollouts of one problem (fewer forks when the trunk is shorter than K)."""
    return generate_rollouts([(problem, prompt_ids)], backend, judge, tokenizer, cfg, seed)[0]


def generate_rollouts(batch: list[tuple[Problem, list[int]]], backend: Backend, judge: Judge, tokenizer,
                      cfg: ForkingConfig, seed: int) -> list[list[dict[str, Any]]]:
    """Rollouts of several problems at once: all trunks in one backend call, then all forks in one
    (so vLLM batches and prefix-caches across problems), and one judge run per stage. Seeds are
    per problem, so results do not depend on how problems are batched.
    Records carry everything but the dataset-level fields (split, prompt text, generator...)."""
    if cfg.trunk_policy not in ("any", "must-pass"):
        raise ValueError(f"trunk_policy must be 'any' or 'must-pass', got '{cfg.trunk_policy}'")
    attempts = cfg.trunk_retries + 1 if cfg.trunk_policy == "must-pass" else 1
    bases = [problem_seed(seed, problem.problem_id) for problem, _ in batch]
    trunks: list[Sample] = [Sample([], [])] * len(batch)
    trunk_records: list[dict[str, Any]] = [{}] * len(batch)
    pending = list(range(len(batch)))
    for attempt in range(attempts):
        if not pending:
            break
        samples = backend.generate([Request(batch[i][1], 1, cfg.max_new_tokens, bases[i] + attempt) for i in pending])
        records = [_record(batch[i][0], tokenizer, out[0], "t0", _branch(batch[i][0], None, None, None), bases[i] + attempt)
                   for i, out in zip(pending, samples)]
        _label(records, [batch[i][0] for i in pending], judge)
        for i, out, record in zip(pending, samples, records):
            trunks[i], trunk_records[i] = out[0], record
        pending = [i for i in pending if not trunk_records[i]["label"]]

    requests, owners = [], []
    for i, (problem, prompt_ids) in enumerate(batch):
        trunk = trunks[i]
        for rank, pos in enumerate(select_forks(trunk.logprobs, cfg.num_forks, cfg.min_fork_distance)):
            requests.append(Request(prompt_ids + trunk.token_ids[:pos], cfg.samples_per_fork, cfg.max_new_tokens - pos,
                                    bases[i] + attempts + rank))
            owners.append((i, rank, pos))
    results: list[list[dict[str, Any]]] = [[record] for record in trunk_records]
    branches, branch_problems = [], []
    for (i, rank, pos), req, samples in zip(owners, requests, backend.generate(requests) if requests else []):
        trunk = trunks[i]
        for s, sample in enumerate(samples):
            full = Sample(trunk.token_ids[:pos] + sample.token_ids, trunk.logprobs[:pos] + sample.logprobs)
            record = _record(batch[i][0], tokenizer, full, f"f{rank}s{s}", _branch(batch[i][0], pos, rank, s), req.seed)
            results[i].append(record)
            branches.append(record)
            branch_problems.append(batch[i][0])
    _label(branches, branch_problems, judge)
    return results


def independent_seed(seed: int, problem_id: str) -> int:
    """The seed of a problem's independent samples: per problem, apart from its trunk's and forks'."""
    return problem_seed(seed, f"{problem_id}/independent")


def generate_independent(batch: list[tuple[Problem, list[int]]], backend: Backend, judge: Judge, tokenizer,
                         n: int, max_new_tokens: int, seed: int) -> list[list[dict[str, Any]]]:
    """n independent samples of each problem's prompt (ids `{problem_id}/i{k}`, role
    "independent"): the candidates a picker would get, on which pass@k and best-of-k are
    measured. One request per problem with its own seed, so the records depend on neither the
    batching nor a resume."""
    if n <= 0 or not batch:
        return [[] for _ in batch]
    requests = [Request(prompt_ids, n, max_new_tokens, independent_seed(seed, problem.problem_id)) for problem, prompt_ids in batch]
    results = []
    for (problem, _), request, samples in zip(batch, requests, backend.generate(requests)):
        results.append([_record(problem, tokenizer, sample, f"i{k}",
                                {"trunk_id": None, "role": "independent", "fork_position": None, "fork_rank": None, "sample_index": k},
                                request.seed)
                        for k, sample in enumerate(samples)])
    _label([r for rs in results for r in rs], [problem for (problem, _), rs in zip(batch, results) for _ in rs], judge)
    return results


def _branch(problem: Problem, pos, rank, index) -> dict[str, Any]:
    return {"trunk_id": f"{problem.problem_id}/t0", "role": "trunk" if pos is None else "branch",
            "fork_position": pos, "fork_rank": rank, "sample_index": index}


def _record(problem: Problem, tokenizer, sample: Sample, suffix: str, branch: dict[str, Any], seed: int) -> dict[str, Any]:
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
        "branch": branch,
        "seed": seed,
    }


def _label(records: list[dict[str, Any]], problems: list[Problem], judge: Judge) -> None:
    if not records:
        return
    verdicts = judge.judge([(r["rollout_id"], r["code"], p.tests) for r, p in zip(records, problems)])
    for r, v in zip(records, verdicts):
        r["label"] = bool(v["passed"])
        r["test_results"] = v.get("results", [])
        r["verdicts"] = v.get("verdicts", [])
        r["isolation"] = v["isolation"]


def code_start_token(tokenizer, token_ids: list[int], char_offset: int) -> int:
    """Index of the token holding the code's first character (0 when there is no code).
    Prefixes are decoded the way the record's text was (special tokens skipped)."""
    if char_offset < 0:
        return 0
    lo, hi = 0, len(token_ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tokenizer.decode(token_ids[: mid + 1], skip_special_tokens=True)) > char_offset:
            hi = mid
        else:
            lo = mid + 1
    return min(lo, max(len(token_ids) - 1, 0))
