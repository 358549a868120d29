"""The gutter's own metric (docs/EVALUATION.md): on failing rollouts whose decisive token is
known, how often is the line where the critic's p(pass) falls most the line holding that
token — against the line of the generator's least likely token and a random line.

The decisive token of a failing fork rollout is where it leaves the passing rollout of its
problem that shares its longest prefix (forks of one trunk share the trunk's tokens up to
their fork, so a failing fork and a passing sibling part exactly there; in the micro world
that is nearly always the flipped slot). Lines are the editor's (src/core/confidence/
lineConfidence.ts): a token belongs to the code line its last non-newline character is on,
a line's value is the value after its last token and its change is that value minus the
value just before its first token.
"""
from __future__ import annotations

import codecs
from collections import OrderedDict
from typing import Sequence

import numpy as np

from ..records import ScoredRollout
from .intervals import BOOTSTRAP_SAMPLES, bootstrap_indices, ratio_interval


# ---------------------------------------------------------------- from records (score stage)

def decisive_index(failing: Sequence[int], passing: Sequence[Sequence[int]]) -> int | None:
    """The first token where `failing` differs from the passing sequence sharing its longest
    prefix; None without a passing sequence, or when `failing` is a prefix of one."""
    best = -1
    for other in passing:
        n = 0
        for a, b in zip(failing, other):
            if a != b:
                break
            n += 1
        best = max(best, n)
    return best if 0 <= best < len(failing) else None


def decisive_indices(records: Sequence[dict]) -> dict[str, int | None]:
    """rollout_id → decisive index for the failing trunk/fork records of each problem
    (independent samples have no siblings and are left out)."""
    by_problem: dict[str, list[dict]] = {}
    for r in records:
        if (r.get("branch") or {}).get("role") != "independent":
            by_problem.setdefault(r["problem_id"], []).append(r)
    out: dict[str, int | None] = {}
    for group in by_problem.values():
        passing = [r["token_ids"] for r in group if r["label"]]
        for r in group:
            if not r["label"]:
                out[r["rollout_id"]] = decisive_index(r["token_ids"], passing)
    return out


def token_spans(tokenizer, token_ids: Sequence[int], text: str) -> list[tuple[int, int]]:
    """[start, end) character offsets into `text` (the ids decoded, special tokens skipped)
    of each token. A character belongs to the token holding its last byte; special tokens and
    tokens holding part of a character get an empty span. Byte-level BPE in one pass; any
    other tokenizer by decoding growing prefixes."""
    special = set(tokenizer.all_special_ids)
    fast = _byte_level_spans(tokenizer, token_ids, special)
    if fast is not None and fast[1] == text:
        return fast[0]
    spans, end = [], 0
    for i in range(len(token_ids)):
        prefix = tokenizer.decode(token_ids[:i + 1], skip_special_tokens=True)
        new_end = end if prefix.endswith("\ufffd") else len(prefix)
        spans.append((end, max(end, new_end)))
        end = max(end, new_end)
    return spans


_BYTE_DECODER: dict[str, int] | None = None


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable-character → byte table that byte-level vocabularies are written in
    (hand-written, as in src/core/critic/offsets.ts: transformers keeps its copy internal)."""
    global _BYTE_DECODER
    if _BYTE_DECODER is None:
        printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
        others = [b for b in range(256) if b not in printable]
        _BYTE_DECODER = {**{chr(b): b for b in printable}, **{chr(256 + i): b for i, b in enumerate(others)}}
    return _BYTE_DECODER


def _byte_level_spans(tokenizer, token_ids: Sequence[int], special: set[int]) -> tuple[list[tuple[int, int]], str] | None:
    """Spans and the text they decode to; None when a token is not a byte-level string."""
    table = _byte_decoder()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    spans, pieces, end = [], [], 0
    for tid, piece in zip(token_ids, tokenizer.convert_ids_to_tokens(list(token_ids))):
        if tid in special:
            spans.append((end, end))
            continue
        try:
            data = bytes(table[ch] for ch in piece)
        except KeyError:
            return None
        piece_text = decoder.decode(data)
        pieces.append(piece_text)
        spans.append((end, end + len(piece_text)))
        end += len(piece_text)
    return spans, "".join(pieces)


def token_lines(spans: Sequence[tuple[int, int]], text: str, code: str, code_offset: int) -> list[int]:
    """The code line (0-based) each token ends on; -1 for tokens outside the code, and for
    tokens of blank lines (the gutter shows no value there; they still move the curve)."""
    if code_offset < 0 or not code:
        return [-1] * len(spans)
    starts = [0] + [i + 1 for i, ch in enumerate(code) if ch == "\n"]
    blank = [not code[a:(starts[j + 1] if j + 1 < len(starts) else len(code))].strip() for j, a in enumerate(starts)]
    out = []
    for start, end in spans:
        start, end = start - code_offset, end - code_offset
        if end <= 0 or start >= len(code) or end <= start:
            out.append(-1)
            continue
        last = min(end, len(code)) - 1
        while last > max(start, 0) and code[last] == "\n":
            last -= 1
        line = int(np.searchsorted(starts, max(last, 0), side="right")) - 1
        out.append(-1 if blank[line] else line)
    return out


# ---------------------------------------------------------------- the metric (evaluate stage)

def line_changes(values: Sequence[float], lines: Sequence[int]) -> "OrderedDict[int, float]":
    """line → its change in p(pass) (value after its last token − value before its first),
    in line order; the first line of a curve with nothing before it starts at its own value."""
    first_base: dict[int, float] = {}
    last_value: dict[int, float] = {}
    previous: float | None = None
    for value, line in zip(values, lines):
        if line >= 0:
            first_base.setdefault(line, value if previous is None else previous)
            last_value[line] = value
        previous = value
    return OrderedDict((line, last_value[line] - first_base[line]) for line in sorted(last_value))


def gutter_hits(r: ScoredRollout) -> dict[str, float] | None:
    """For one failing rollout with a decisive token on a code line: 1/0 for the critic's
    largest-drop line and the generator's least-likely-token line, and a random line's
    chance (1 / lines). None when the rollout is not eligible."""
    if r.passed or r.decisive_index is None or r.token_lines is None:
        return None
    decisive_line = r.token_lines[r.decisive_index]
    if decisive_line < 0:
        return None
    changes = line_changes(r.values, r.token_lines)
    critic_line = min(changes, key=lambda line: (changes[line], line))
    hits = {"critic_largest_drop": float(critic_line == decisive_line), "random_line": 1.0 / len(changes)}
    if r.logprobs is not None:
        in_code = [i for i, line in enumerate(r.token_lines) if line >= 0]
        least_likely = min(in_code, key=lambda i: (r.logprobs[i], i))
        hits["generator_least_likely_token"] = float(r.token_lines[least_likely] == decisive_line)
    return hits


GUTTER_RANKERS = ("critic_largest_drop", "generator_least_likely_token", "random_line")


def gutter_metrics(rollouts: Sequence[ScoredRollout], *, bootstrap_samples: int = BOOTSTRAP_SAMPLES,
                   seed: int = 0) -> dict:
    """Hit rates over the eligible failing rollouts (problems resampled for the intervals),
    and how many failing rollouts had no known decisive code line."""
    failing = [r for r in rollouts if not r.passed and not r.independent]
    per_problem: dict[str, list[dict[str, float]]] = {}
    for r in failing:
        hits = gutter_hits(r)
        if hits is not None:
            per_problem.setdefault(r.problem_id, []).append(hits)
    n_eligible = sum(map(len, per_problem.values()))
    out = {"n_failing_rollouts": len(failing), "n_rollouts": n_eligible, "n_problems": len(per_problem),
           "not_eligible": {"no_passing_sibling_or_no_token_data": sum(r.decisive_index is None or r.token_lines is None for r in failing),
                            "decisive_token_outside_code": sum(r.decisive_index is not None and r.token_lines is not None
                                                               and r.token_lines[r.decisive_index] < 0 for r in failing)},
           "rates": {}}
    if not per_problem:
        out["rates"] = {name: None for name in GUTTER_RANKERS}
        return out
    problems = list(per_problem.values())
    resamples = bootstrap_indices(len(problems), bootstrap_samples, seed)
    counts = np.array([len(p) for p in problems], dtype=float)
    for name in GUTTER_RANKERS:
        if any(name not in h for p in problems for h in p):
            out["rates"][name] = None
            continue
        sums = np.array([sum(h[name] for h in p) for p in problems])
        out["rates"][name] = ratio_interval(sums, counts, resamples)
    return out
