"""One reader and one writer per file format the stages exchange (formats and schemas:
contracts/README.md). Every stage goes through here.

JSON Lines policy, stated once: writers end every line with a newline and flush it to disk
(`append_jsonl`), or replace a whole file at once (`write_jsonl`). A reader drops a last line
that has no newline and does not parse — the torn write of a killed process — and raises
`ValueError` naming the file and line for any other line that is not a JSON object.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

ROLLOUT_KEYS = ("rollout_id", "problem_id", "prompt_token_ids", "token_ids", "label")


# ---------------------------------------------------------------- JSON Lines

def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines):  # no newline after it: a write cut short by a kill
                print(f"records: {path}:{n}: dropped a torn last line", file=sys.stderr)
                continue
            raise ValueError(f"{path}:{n}: invalid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{n}: expected a JSON object")
        rows.append(row)
    return rows


def append_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Appends rows and waits until they are on disk (a resumed run trusts what it finds)."""
    text = "".join(json.dumps(r) + "\n" for r in rows)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Replaces the file whole: readers see the old or the new content, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- rollout shards

def shard_name(kind: str, split: str, index: int) -> str:
    """`rollouts-{split}-NNNNN.jsonl` (kept problems) or `excluded-...` (no passing rollout)."""
    return f"{kind}-{split}-{index:05d}.jsonl"


def rollout_files(paths: Sequence[str | Path], split: str | None = None, kind: str = "rollouts") -> list[Path]:
    """Files as given; a folder means its shards (`shards/{kind}-{split}-*.jsonl`, any split when None)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = f"{kind}-{split}-*.jsonl" if split else f"{kind}-*.jsonl"
            found = sorted(p.rglob(pattern))
            if not found:
                raise FileNotFoundError(f"{p}: no {pattern} shards (build them with passlens-train build-dataset)")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such rollout shard file or dataset folder")
    return files


def read_rollouts(paths: Sequence[str | Path], split: str | None = None, kind: str = "rollouts") -> list[dict[str, Any]]:
    """Rollout records (contracts/schemas/rollout-record.schema.json) of shard files or dataset folders."""
    records = []
    for f in rollout_files(paths, split, kind):
        for n, rec in enumerate(read_jsonl(f), 1):
            missing = [k for k in ROLLOUT_KEYS if k not in rec]
            if missing:
                raise ValueError(f"{f}: record {n} is not a rollout record, missing {missing}")
            records.append(rec)
    return records


def read_dataset_shards(dataset_dir: str | Path, kind: str = "rollouts") -> list[dict[str, Any]]:
    """Every `kind` shard of a dataset folder, or [] when it has none yet (a build in progress)."""
    files = sorted((Path(dataset_dir) / "shards").glob(f"{kind}-*.jsonl"))
    return [rec for f in files for rec in read_jsonl(f)]


# ---------------------------------------------------------------- scores file

@dataclass(frozen=True)
class ScoredRollout:
    """A line of the scores file: a rollout's per-token values and the index that ranks it,
    with what the baselines and the gutter metric need (docs/EVALUATION.md)."""

    problem_id: str
    rollout_id: str
    passed: bool
    values: tuple[float, ...]
    code_start: int = 0
    rank_index: int | None = None  # contracts.ranking_index; None: the last value
    independent: bool = False  # an independent sample of its problem (not a trunk or a fork)
    logprobs: tuple[float, ...] | None = None  # the generator's, one per generated token
    token_lines: tuple[int, ...] | None = None  # the code line each token ends on, -1 outside the code
    decisive_index: int | None = None  # failing forks: the token where they left the nearest passing rollout

    @property
    def s(self) -> float:
        """The value that ranks this rollout (the paper's `s`)."""
        return self.values[self.ranked_index]

    @property
    def ranked_index(self) -> int:
        return len(self.values) - 1 if self.rank_index is None else self.rank_index


def _optional_tuple(obj: dict[str, Any], key: str, cast, length: int, where: str) -> tuple | None:
    value = obj.get(key)
    if value is None:
        return None
    out = tuple(cast(v) for v in value)
    if len(out) != length:
        raise ValueError(f"{where}: {key} has {len(out)} entries for {length} values")
    return out


def scored_rollout(obj: dict[str, Any], where: str = "") -> ScoredRollout:
    try:
        values = tuple(float(v) for v in obj["values"])
        rank_index = obj.get("rank_index")
        decisive = obj.get("decisive_index")
        rollout = ScoredRollout(
            problem_id=str(obj["problem_id"]),
            rollout_id=str(obj["rollout_id"]),
            passed=bool(obj["passed"]),
            values=values,
            code_start=int(obj.get("code_start", 0) or 0),
            rank_index=None if rank_index is None else int(rank_index),
            independent=bool(obj.get("independent", False)),
            logprobs=_optional_tuple(obj, "logprobs", float, len(values), where),
            token_lines=_optional_tuple(obj, "token_lines", int, len(values), where),
            decisive_index=None if decisive is None else int(decisive),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not a scores record ({exc!r}); expected keys problem_id, rollout_id, passed, "
                         "values, code_start, rank_index") from exc
    if not values:
        raise ValueError(f"{where}: rollout {rollout.rollout_id!r} has no values (a scored rollout needs at least one generated token)")
    for name, index in (("rank_index", rollout.rank_index), ("decisive_index", rollout.decisive_index)):
        if index is not None and not 0 <= index < len(values):
            raise ValueError(f"{where}: {name} {index} is outside the {len(values)} values")
    return rollout


def read_scores(path: str | Path) -> list[ScoredRollout]:
    rows = read_jsonl(path)
    if not rows:
        raise ValueError(f"{path}: no scored rollouts")
    return [scored_rollout(row, f"{path}:{n}") for n, row in enumerate(rows, 1)]


def score_row(rollout: ScoredRollout) -> dict[str, Any]:
    return {"problem_id": rollout.problem_id, "rollout_id": rollout.rollout_id, "passed": rollout.passed,
           "values": [round(float(v), 6) for v in rollout.values], "code_start": rollout.code_start,
           "rank_index": rollout.rank_index, "independent": rollout.independent,
           "logprobs": None if rollout.logprobs is None else [round(float(v), 6) for v in rollout.logprobs],
           "token_lines": None if rollout.token_lines is None else list(rollout.token_lines),
           "decisive_index": rollout.decisive_index}


# ---------------------------------------------------------------- build throughput

def read_throughput(dataset_dir: str | Path) -> list[dict[str, Any]]:
    """The build sessions of a dataset folder's `throughput.json` (rollouts/throughput.py), oldest first."""
    path = Path(dataset_dir) / "throughput.json"
    return json.loads(path.read_text(encoding="utf-8"))["sessions"] if path.is_file() else []


def write_throughput_session(dataset_dir: str | Path, session: dict[str, Any], replace_last: bool) -> None:
    """Adds a session to `throughput.json`, or replaces the last one (the same session, updated)."""
    sessions = read_throughput(dataset_dir)
    if replace_last and sessions:
        sessions[-1] = session
    else:
        sessions.append(session)
    path = Path(dataset_dir) / "throughput.json"
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps({"sessions": sessions}, indent=1), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- split file

def read_split(path: str | Path) -> dict[str, list[str]]:
    """`{"train": [ids], "test": [ids], ...}`; other keys (seed, fractions) are kept."""
    split = json.loads(Path(path).read_text(encoding="utf-8"))
    if not {"train", "test"} <= set(split):
        raise ValueError(f"{path}: a split file needs 'train' and 'test' id lists")
    return split


def write_split(path: str | Path, split: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=1), encoding="utf-8")
