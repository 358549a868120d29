"""Throughput of a build: what each worker generated and judged, and how fast.

Every build session (a run, or a resumed part of one) appends one entry to
`OUTPUT_DIR/throughput.json`; `run.json` stays the record of settings a resume is checked
against. Per worker: rollouts (trunks, forks and independent samples), generated tokens and
judged tests, with
- `rollouts_per_s`: the worker's rollouts over the session's wall time (workers add up to the job's),
- `tokens_per_s`: generated tokens over the seconds the worker's engine spent generating,
- `judge_tests_per_s`: test cases run over the seconds the judge spent on them.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from .generation import Backend, Request, Sample


@dataclasses.dataclass
class WorkCounts:
    """What one piece of work (a chunk of problems) cost; summed per worker by the driver."""

    problems: int = 0
    rollouts: int = 0
    generated_tokens: int = 0
    generation_s: float = 0.0
    judge_programs: int = 0  # programs the sandbox ran (duplicates and empty code are not run)
    judge_tests: int = 0  # test cases those programs ran
    judge_s: float = 0.0  # the judge's own time on them
    judge_wait_s: float = 0.0  # time this worker waited for verdicts (less than judge_s when judging overlaps)

    def add(self, other: "WorkCounts") -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class MeteredBackend:
    """A backend that counts generated tokens and the seconds spent generating them."""

    def __init__(self, backend: Backend, counts: WorkCounts):
        self.backend, self.counts = backend, counts
        self.generator_id, self.revision = backend.generator_id, backend.revision

    def generate(self, requests: list[Request]) -> list[list[Sample]]:
        start = time.perf_counter()
        out = self.backend.generate(requests)
        self.counts.generation_s += time.perf_counter() - start
        self.counts.generated_tokens += sum(len(s.token_ids) for samples in out for s in samples)
        return out


class MeteredJudge:
    """A judge (local, or the Ray judge pool) whose runs are counted into `counts`: what the
    sandbox ran as the judge reports it (`judge_counted`), and how long this worker waited."""

    def __init__(self, judge, counts: WorkCounts):
        self.inner, self.counts = judge, counts

    def judge(self, items):
        start = time.perf_counter()
        verdicts, run = self.inner.judge_counted(items)
        self.counts.judge_wait_s += time.perf_counter() - start
        self.counts.judge_programs += run["programs"]
        self.counts.judge_tests += run["tests"]
        self.counts.judge_s += run["seconds"]
        return verdicts


@dataclasses.dataclass
class WorkerReport:
    worker: str
    counts: WorkCounts = dataclasses.field(default_factory=WorkCounts)
    pids: list[int] = dataclasses.field(default_factory=list)  # more than one: the worker was restarted
    node: str = ""

    def summary(self, wall_s: float) -> dict[str, Any]:
        c = self.counts
        return {"worker": self.worker, "node": self.node, "pids": self.pids, **dataclasses.asdict(c),
                "rollouts_per_s": _rate(c.rollouts, wall_s), "tokens_per_s": _rate(c.generated_tokens, c.generation_s),
                "judge_tests_per_s": _rate(c.judge_tests, c.judge_s)}


def _rate(count: float, seconds: float) -> float | None:
    return round(count / seconds, 3) if seconds > 0 else None


def session_summary(engine: str, workers: list[WorkerReport], wall_s: float, started: float,
                    startup_s: float | None) -> dict[str, Any]:
    """`startup_s`: until every engine was loaded (Ray: the instance or connection, and the
    workers); `rollouts_per_s_after_startup` leaves it out, as a long build amortises it."""
    total = WorkCounts()
    for w in workers:
        total.add(w.counts)
    return {"engine": engine, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "wall_s": round(wall_s, 3), "startup_s": None if startup_s is None else round(startup_s, 3),
            "problems": total.problems, "rollouts": total.rollouts,
            "generated_tokens": total.generated_tokens, "judge_tests": total.judge_tests,
            "rollouts_per_s": _rate(total.rollouts, wall_s), "tokens_per_s": _rate(total.generated_tokens, wall_s),
            "judge_tests_per_s": _rate(total.judge_tests, wall_s),
            "rollouts_per_s_after_startup": _rate(total.rollouts, wall_s - startup_s) if startup_s is not None else None,
            "workers": [w.summary(wall_s) for w in workers]}
