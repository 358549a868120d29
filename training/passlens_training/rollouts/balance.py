"""Balanced variant: per problem, oversample the minority class by seeded repetition until
both classes have the majority's count. One-class problems cannot be balanced: left out."""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Any


def balance(records: list[dict[str, Any]], seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    by_problem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_problem[r["problem_id"]].append(r)
    out: list[dict[str, Any]] = []
    left_out = []
    for pid in sorted(by_problem):
        rows = by_problem[pid]
        pos = [r for r in rows if r["label"]]
        neg = [r for r in rows if not r["label"]]
        if not pos or not neg:
            left_out.append(pid)
            continue
        minority, majority = (pos, neg) if len(pos) < len(neg) else (neg, pos)
        rng = random.Random(f"{seed}:{pid}")
        order = minority[:]
        rng.shuffle(order)
        # Whole copies first, then a seeded subset: every minority rollout repeats at most once more than another.
        extra = [order[i % len(order)] for i in range(len(majority) - len(minority))]
        out.extend(rows + extra)
    report = {"rollouts_in": len(records), "rollouts_out": len(out), "problems_in": len(by_problem),
              "problems_balanced": len(by_problem) - len(left_out), "problems_left_out": len(left_out),
              "left_out_ids": left_out}
    return out, report
