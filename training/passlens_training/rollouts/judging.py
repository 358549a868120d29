"""Labels from python-sandbox/judge.py, run as a subprocess over its JSONL protocol."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]


def default_judge() -> Path:
    """The judge shipped inside the installed package (a wheel carries a copy of
    python-sandbox/), else the repository's (editable installs)."""
    for candidate in (PACKAGE / "_sandbox" / "judge.py", PACKAGE.parents[1] / "python-sandbox" / "judge.py"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("python-sandbox/judge.py not found: reinstall passlens-training or set rollouts.judge_path")


class Judge:
    def __init__(self, judge_path: str | Path | None = None, *, workers: int = 2, compare: str = "strict",
                 timeout_s: float = 4.0, memory_mb: int = 1024, python: str = sys.executable):
        self.path = Path(judge_path) if judge_path else default_judge()
        if not self.path.is_file():
            raise FileNotFoundError(f"sandbox judge not found at {self.path}; set rollouts.judge_path")
        self.workers, self.compare, self.timeout_s, self.memory_mb, self.python = workers, compare, timeout_s, memory_mb, python

    def judge(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """items: (id, code, tests). One response per item, in order. Empty code is a compile error without a run.

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
            proc = subprocess.run(
                [self.python, str(self.path), "--workers", str(self.workers), "--compare", self.compare],
                input="".join(json.dumps(r) + "\n" for r in requests), capture_output=True, text=True, check=False,
            )
            lines = [l for l in proc.stdout.splitlines() if l.strip()]
            if proc.returncode != 0 or len(lines) != len(requests):
                raise RuntimeError(f"judge {self.path} exited {proc.returncode} with {len(lines)}/{len(requests)} "
                                   f"responses; stderr: {proc.stderr[-2000:]}")
            for line in lines:
                resp = json.loads(line)
                if "error" in resp:
                    raise RuntimeError(f"judge rejected request {resp.get('id')}: {resp['error']}")
                responses[resp["id"]] = resp
        run = {"programs": len(requests), "tests": sum(len(responses[r["id"]].get("results", [])) for r in requests),
               "seconds": time.perf_counter() - start if requests else 0.0}
        for rid, first in same_as.items():
            responses[rid] = {**responses[first], "id": rid}
        return [responses[rid] for rid, _, _ in items], run
