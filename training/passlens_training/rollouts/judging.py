"""Labels from python-sandbox/judge.py, run as a subprocess over its JSONL protocol.

Isolation: the judge is asked for a strong mechanism (`--isolation auto`: bwrap, firejail or
sandbox-exec, or a refusal that says what is missing). Its weak mode (an in-process guard
that model-written code can escape) labels only when the config opts in
(`rollouts.allow_weak_isolation: true`); every verdict carries the mode it ran under.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]

AUTO_ISOLATION = "auto"
WEAK_ISOLATION = "weak"
ALLOW_WEAK_HINT = ("To label anyway under weak, escapable isolation, set rollouts.allow_weak_isolation: true "
                   "(only for code you would run outside a sandbox).")


def is_weak_isolation(response: dict[str, Any]) -> bool:
    """Whether a verdict came from the weak mode (named so, or marked `weak_isolation`)."""
    return response.get("weak_isolation") is True or response.get("isolation") == WEAK_ISOLATION


class WeakIsolationRefused(RuntimeError):
    """The judge can only isolate weakly here (or cannot start) and the config does not allow weak isolation."""


def default_judge() -> Path:
    """The judge shipped inside the installed package (a wheel carries a copy of
    python-sandbox/), else the repository's (editable installs)."""
    for candidate in (PACKAGE / "_sandbox" / "judge.py", PACKAGE.parents[1] / "python-sandbox" / "judge.py"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("python-sandbox/judge.py not found: reinstall passlens-training or set rollouts.judge_path")


class Judge:
    def __init__(self, judge_path: str | Path | None = None, *, workers: int = 2, compare: str = "strict",
                 timeout_s: float = 4.0, memory_mb: int = 1024, python: str = sys.executable,
                 isolation: str = AUTO_ISOLATION, allow_weak_isolation: bool = False):
        self.path = Path(judge_path) if judge_path else default_judge()
        if not self.path.is_file():
            raise FileNotFoundError(f"sandbox judge not found at {self.path}; set rollouts.judge_path")
        self.workers, self.compare, self.timeout_s, self.memory_mb, self.python = workers, compare, timeout_s, memory_mb, python
        if isolation == WEAK_ISOLATION and not allow_weak_isolation:
            raise WeakIsolationRefused(f"rollouts.judge_isolation is {isolation!r}, the judge's weak isolation, which model-written "
                                       f"code can escape. {ALLOW_WEAK_HINT}")
        self.isolation, self.allow_weak = isolation, allow_weak_isolation
        # The mode the last run reported; before any run, the mode asked for by name (auto: None).
        # Empty programs, which run nowhere, are labelled in it.
        self.mode: str | None = None if isolation == AUTO_ISOLATION else isolation

    def probe(self) -> str:
        """Runs one trivial program to learn the isolation mode this machine gives; raises
        WeakIsolationRefused when it is weak and not allowed (or the judge cannot start)."""
        self.judge([("isolation-probe", "print(0)", {"inputs": [""], "outputs": ["0"]})])
        return self.mode

    def _run(self, requests: list[dict[str, Any]]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.python, str(self.path), "--workers", str(self.workers), "--compare", self.compare, "--isolation", self.isolation],
            input="".join(json.dumps(r) + "\n" for r in requests), capture_output=True, text=True, check=False,
        )

    def judge(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """items: (id, code, tests). One response per item, in order, each with its `isolation`.
        Empty code is a compile error without a run.

        Identical (code, tests) items run once: rollouts sampled from one fork often end in the
        same program (on the micro problems ~5 in 6 do), and a verdict is a function of both."""
        return self.judge_counted(items)[0]

    def judge_counted(self, items: list[tuple[str, str, dict[str, Any]]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """`judge`, and what the sandbox ran: {programs, tests (test cases), seconds}."""
        start = time.perf_counter()
        requests, responses = [], {}
        first_of: dict[tuple[str, str], str] = {}
        same_as: dict[str, str] = {}
        for rid, code, tests in items:
            if not code.strip():
                responses[rid] = {"id": rid, "passed": False, "results": [-2], "verdicts": ["compile_error"]}
                continue
            key = (code, json.dumps(tests, sort_keys=True))
            if key in first_of:
                same_as[rid] = first_of[key]
                continue
            first_of[key] = rid
            requests.append({"id": rid, "code": code, "tests": tests, "timeout_s": self.timeout_s,
                             "memory_mb": self.memory_mb, "compare": self.compare})
        if requests:
            proc = self._run(requests)
            lines = [l for l in proc.stdout.splitlines() if l.strip()]
            if proc.returncode != 0 and not lines:
                # It could not start, e.g. no strong isolation on this machine: its last line says why.
                reason = (proc.stderr.strip().splitlines() or [f"exited {proc.returncode}"])[-1]
                if self.isolation == AUTO_ISOLATION and self.allow_weak:
                    print(f"judge: {reason}; labelling under weak isolation (rollouts.allow_weak_isolation)", file=sys.stderr)
                    self.isolation = WEAK_ISOLATION
                    proc = self._run(requests)
                    lines = [l for l in proc.stdout.splitlines() if l.strip()]
                else:
                    raise WeakIsolationRefused(f"the sandbox judge cannot run here: {reason}. {ALLOW_WEAK_HINT}")
            if proc.returncode != 0 or len(lines) != len(requests):
                raise RuntimeError(f"judge {self.path} exited {proc.returncode} with {len(lines)}/{len(requests)} "
                                   f"responses; stderr: {proc.stderr[-2000:]}")
            for line in lines:
                resp = json.loads(line)
                if "error" in resp:
                    raise RuntimeError(f"judge rejected request {resp.get('id')}: {resp['error']}")
                if is_weak_isolation(resp) and not self.allow_weak:
                    # A judge that fell back to its guard by itself: no label from it counts.
                    note = (proc.stderr.strip().splitlines() or [""])[-1]
                    raise WeakIsolationRefused(f"the sandbox judge could only isolate weakly here ({resp.get('isolation')}). "
                                               f"{note} {ALLOW_WEAK_HINT}".replace("  ", " "))
                self.mode = resp.get("isolation", self.mode)
                responses[resp["id"]] = resp
        run = {"programs": len(requests), "tests": sum(len(responses[r["id"]].get("results", [])) for r in requests),
               "seconds": time.perf_counter() - start if requests else 0.0}
        for rid in responses:
            # Empty programs ran nowhere; they are labelled in the same run's mode.
            responses[rid].setdefault("isolation", self.mode)
        for rid, first in same_as.items():
            responses[rid] = {**responses[first], "id": rid}
        return [responses[rid] for rid, _, _ in items], run
