"""APPS problems: loading (hub parquet, original folder layout, JSONL) and seeded splits;
`load_problems` also takes HumanEval (`humaneval.py`).

Every loader yields `Problem`s with parsed tests; problems without tests are skipped and
counted in `LoadReport`. The split file records which ids are train/validation/test so every
stage uses the same ones.
"""
from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any, Iterable

from ..records import read_split, write_split

KINDS = ("standard_input", "call_based")


@dataclasses.dataclass
class Problem:
    problem_id: str
    question: str
    tests: dict[str, Any]  # {"inputs": [...], "outputs": [...], "fn_name"?: str} or {"check": str, "entry_point": str}
    difficulty: str = "unknown"
    starter_code: str = ""
    solutions: list[str] = dataclasses.field(default_factory=list)

    @property
    def kind(self) -> str:
        """The prompt kind: a function to complete (call-based tests or a check program) or a
        standard-input program."""
        return "call_based" if self.tests.get("fn_name") or "check" in self.tests else "standard_input"


@dataclasses.dataclass
class LoadReport:
    loaded: int = 0
    skipped_no_tests: int = 0
    skipped_ids: list[str] = dataclasses.field(default_factory=list)


def _parse_json_field(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return default
    return value


def problem_from_record(record: dict[str, Any], report: LoadReport, default_id: str = "") -> Problem | None:
    """One APPS-shaped record (hub row, sample JSONL line or folder contents) → Problem."""
    pid = str(record.get("problem_id", default_id))
    tests = _parse_json_field(record.get("input_output"), {})
    inputs, outputs = (tests or {}).get("inputs") or [], (tests or {}).get("outputs") or []
    if not inputs or len(inputs) != len(outputs):
        report.skipped_no_tests += 1
        report.skipped_ids.append(pid)
        return None
    parsed: dict[str, Any] = {"inputs": inputs, "outputs": outputs}
    if tests.get("fn_name"):
        parsed["fn_name"] = tests["fn_name"]
    report.loaded += 1
    return Problem(
        problem_id=pid,
        question=str(record.get("question", "")),
        tests=parsed,
        difficulty=str(record.get("difficulty") or "unknown"),
        starter_code=str(record.get("starter_code") or ""),
        solutions=list(_parse_json_field(record.get("solutions"), [])),
    )


def load_jsonl(path: str | Path, report: LoadReport, split: str | None = None) -> list[Problem]:
    """One APPS record per line. Ids like `train/0001` carry the APPS split: only `split`'s are kept."""
    problems = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{n}: not a JSON line ({err})") from None
        pid = str(record.get("problem_id", ""))
        if split and "/" in pid and pid.split("/")[0] != split:
            continue
        problem = problem_from_record(record, report, default_id=f"line{n}")
        if problem:
            problems.append(problem)
    return problems


def load_folder(root: str | Path, split: str, report: LoadReport) -> list[Problem]:
    """Original layout: ROOT/SPLIT/0000/{question.txt,input_output.json,solutions.json,metadata.json,starter_code.py}."""
    base = Path(root) / split
    if not base.is_dir():
        raise FileNotFoundError(f"APPS folder layout expected {base}/NNNN/question.txt; {base} does not exist")
    problems = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        def read(name: str) -> str | None:
            f = folder / name
            return f.read_text() if f.is_file() else None

        meta = _parse_json_field(read("metadata.json"), {})
        record = {
            "problem_id": f"{split}/{folder.name}",
            "question": read("question.txt") or "",
            "input_output": read("input_output.json"),
            "solutions": read("solutions.json"),
            "starter_code": read("starter_code.py") or "",
            "difficulty": meta.get("difficulty", "unknown"),
        }
        problem = problem_from_record(record, report)
        if problem:
            problems.append(problem)
    return problems


def load_parquet(data_files: str, split: str, report: LoadReport) -> list[Problem]:
    """Rows in the hub's APPS schema (int `problem_id`; `input_output`, `solutions` as JSON strings)."""
    import datasets

    rows = datasets.load_dataset("parquet", data_files={split: data_files}, split=split)
    problems = []
    for row in rows:
        row = dict(row)
        if str(row.get("problem_id", "")).isdigit():
            row["problem_id"] = f"{split}/{int(row['problem_id']):04d}"
        problem = problem_from_record(row, report)
        if problem:
            problems.append(problem)
    return problems


def hub_parquet_files(dataset: str, split: str) -> str:
    """`codeparrot/apps` through the hub's parquet conversion: its loading script no longer runs
    on datasets >= 4, the parquet branch does (config `all`)."""
    return f"hf://datasets/{dataset}@refs%2Fconvert%2Fparquet/all/{split}/*.parquet"


def load_problems(source: str, *, split: str = "train", report: LoadReport | None = None) -> list[Problem]:
    """`source`: a .jsonl file, a folder in the original layout, `hub:OWNER/NAME`, or parquet
    files (a glob) in the hub's schema, with `{split}` where the split goes in the path; or
    HumanEval (`humaneval`, or a HumanEval*.jsonl[.gz] file), which has one split (`train`:
    every problem; make_split divides it)."""
    report = report if report is not None else LoadReport()
    from .humaneval import is_humaneval_source, load_humaneval

    if is_humaneval_source(source):
        if split != "train":
            raise ValueError(f"HumanEval has no '{split}' split: every problem loads as 'train' and "
                             "data.test_fraction / validation_fraction divide them")
        return load_humaneval(source, report)
    if source.startswith("hub:"):
        return load_parquet(hub_parquet_files(source[4:], split), split, report)
    if source.endswith(".parquet"):
        return load_parquet(source.replace("{split}", split), split, report)
    path = Path(source)
    if path.is_file():
        return load_jsonl(path, report, split)
    if path.is_dir():
        return load_folder(path, split, report)
    raise FileNotFoundError(f"APPS source not found: {source} (a .jsonl file, an APPS folder, parquet files, or hub:codeparrot/apps)")


def make_split(ids: Iterable[str], test_fraction: float, seed: int, validation_fraction: float = 0.0) -> dict[str, list[str]]:
    """A seeded split by problem: train/test, and a validation split (what is tuned, so that
    the test split stays untouched) when `validation_fraction` > 0."""
    ids = sorted(set(ids))
    rng = random.Random(seed)
    shuffled = ids[:]
    rng.shuffle(shuffled)
    n_test = round(len(ids) * test_fraction)
    n_validation = round(len(ids) * validation_fraction)
    if n_test + n_validation > len(ids):
        raise ValueError(f"test_fraction {test_fraction} + validation_fraction {validation_fraction} leave no problem to train on")
    split = {"train": sorted(shuffled[n_test + n_validation:]), "test": sorted(shuffled[:n_test])}
    if validation_fraction > 0:
        split["validation"] = sorted(shuffled[n_test:n_test + n_validation])
    return split


def load_or_make_split(path: str | Path, ids: Iterable[str], test_fraction: float, seed: int,
                       validation_fraction: float = 0.0) -> dict[str, list[str]]:
    """Reads the split file when it exists (so every stage agrees; every list in it is a split,
    e.g. the micro world's validation), else writes a new seeded one (train/test, and
    validation when `validation_fraction` > 0)."""
    path = Path(path)
    if path.is_file():
        split = read_split(path)
        return {name: ids for name, ids in split.items() if isinstance(ids, list)}
    split = make_split(ids, test_fraction, seed, validation_fraction)
    write_split(path, {**split, "seed": seed, "test_fraction": test_fraction, "validation_fraction": validation_fraction})
    return split
