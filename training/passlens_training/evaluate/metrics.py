"""Outcome/process-reward metrics of a value critic, computed from a scores file (pure numpy).

Definitions (also in docs/EVALUATION.md; a check outside this repo recomputes them):
``s`` is a rollout's value at its ranking index (contracts/README.md: the last token that is
not special), predicted positive means ``s >= 0.5``. ``imbalanced`` weighs
every rollout 1; ``balanced`` keeps problems with both classes and weighs each minority-class
rollout n_majority / n_minority. Rates whose condition has no rollouts are ``None`` (null).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Iterable, Sequence

import numpy as np

from ..records import ScoredRollout

THRESHOLD = 0.5
PERCENTILES = tuple(range(0, 101, 10))
KS = (1, 3, 10)
ECE_BINS = 10


def group_by_problem(rollouts: Iterable[ScoredRollout]) -> "OrderedDict[str, list[ScoredRollout]]":
    groups: OrderedDict[str, list[ScoredRollout]] = OrderedDict()
    for r in rollouts:
        groups.setdefault(r.problem_id, []).append(r)
    return groups


def balanced_weights(rollouts: Sequence[ScoredRollout]) -> np.ndarray:
    """Per-rollout weights: 0 for problems with one class, n_majority/n_minority for the minority class."""
    weights = np.zeros(len(rollouts))
    index: dict[str, list[int]] = {}
    for i, r in enumerate(rollouts):
        index.setdefault(r.problem_id, []).append(i)
    for idx in index.values():
        n_pass = sum(rollouts[i].passed for i in idx)
        n_fail = len(idx) - n_pass
        if n_pass == 0 or n_fail == 0:
            continue
        for i in idx:
            own, other = (n_pass, n_fail) if rollouts[i].passed else (n_fail, n_pass)
            weights[i] = other / own if own < other else 1.0
    return weights


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else float(num / den)


def weighted_auroc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    """P(score of a positive > score of a negative) + ½ P(tie), pairs weighted w_i·w_j.
    Unweighted, this equals the Mann-Whitney statistic with ties as average ranks."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    w_pos, w_neg = weights[labels].sum(), weights[~labels].sum()
    if w_pos <= 0 or w_neg <= 0:
        return None
    uniq, inverse = np.unique(scores, return_inverse=True)
    pos_at = np.bincount(inverse, weights=np.where(labels, weights, 0.0), minlength=len(uniq))
    neg_at = np.bincount(inverse, weights=np.where(labels, 0.0, weights), minlength=len(uniq))
    neg_below = np.cumsum(neg_at) - neg_at
    return float((pos_at * (neg_below + 0.5 * neg_at)).sum() / (w_pos * w_neg))


def expected_calibration_error(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, n_bins: int = ECE_BINS) -> float | None:
    """Σ_b n_b/N · |mean label − mean s| over equal-width bins [0,0.1) … [0.9,1.0]."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    total = weights.sum()
    if total <= 0:
        return None
    bins = np.clip(np.floor(scores * n_bins).astype(int), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        w = weights * (bins == b)
        wb = w.sum()
        if wb > 0:
            ece += wb / total * abs((w * labels).sum() / wb - (w * scores).sum() / wb)
    return float(ece)


def percentile_index(n_values: int, code_start: int, p: float) -> int | None:
    """idx = code_start + floor(p/100·(L−1) + 0.5) with L = n_values − code_start; None when L < 1."""
    length = n_values - code_start
    if length < 1:
        return None
    return code_start + math.floor(p / 100 * (length - 1) + 0.5)


def reliability_bins(scores: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> list[dict]:
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float)
    bins = np.clip(np.floor(scores * n_bins).astype(int), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = bins == b
        n = int(sel.sum())
        out.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": n,
                    "mean_score": float(scores[sel].mean()) if n else None,
                    "mean_label": float(labels[sel].mean()) if n else None})
    return out


def classification_metrics(rollouts: Sequence[ScoredRollout], weights: np.ndarray) -> dict:
    weights = np.asarray(weights, dtype=float)
    s = np.array([r.s for r in rollouts], dtype=float)
    y = np.array([r.passed for r in rollouts], dtype=bool)
    pos = s >= THRESHOLD
    total = weights.sum()
    w_pos, w_neg = weights[pos].sum(), weights[~pos].sum()
    w_passed, w_failed = weights[y].sum(), weights[~y].sum()
    tp, tn = weights[pos & y].sum(), weights[~pos & ~y].sum()
    percentile_accuracy = {}
    for p in PERCENTILES:
        num = den = 0.0
        for r, w in zip(rollouts, weights):
            idx = percentile_index(len(r.values), r.code_start, p)
            if idx is None or w <= 0:
                continue
            den += w
            num += w * ((r.values[idx] >= THRESHOLD) == r.passed)
        percentile_accuracy[str(p)] = _ratio(num, den)
    return {
        "predicted_positive_rate": _ratio(w_pos, total),
        "predicted_negative_rate": _ratio(w_neg, total),
        "accuracy": _ratio(tp + tn, total),
        "precision": _ratio(tp, w_pos),
        "negative_predictive_value": _ratio(tn, w_neg),
        "true_positive_rate": _ratio(tp, w_passed),
        "true_negative_rate": _ratio(tn, w_failed),
        "auroc": weighted_auroc(s, y, weights) if total > 0 else None,
        "ece": expected_calibration_error(s, y, weights),
        "percentile_accuracy": percentile_accuracy,
    }


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: 1 − C(n−c, k)/C(n, k), and 1 when n − c < k (as specified, also for k > n)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def best_of_k(group: Sequence[ScoredRollout], k: int) -> bool:
    """Did any of the k rollouts with the highest s pass? Ties keep file order (stable sort)."""
    order = sorted(range(len(group)), key=lambda i: -group[i].s)
    return any(group[i].passed for i in order[:k])


def compute_metrics(rollouts: Sequence[ScoredRollout]) -> dict:
    rollouts = list(rollouts)
    if not rollouts:
        raise ValueError("no scored rollouts to evaluate")
    groups = group_by_problem(rollouts)
    baseline = {str(k): float(np.mean([pass_at_k(len(g), sum(r.passed for r in g), k) for g in groups.values()])) for k in KS}
    best = {str(k): float(np.mean([best_of_k(g, k) for g in groups.values()])) for k in KS}
    return {
        "imbalanced": classification_metrics(rollouts, np.ones(len(rollouts))),
        "balanced": classification_metrics(rollouts, balanced_weights(rollouts)),
        "baseline_pass_at_k": baseline,
        "best_of_k": best,
        "relative_improvement": {k: _ratio(best[k] - baseline[k], baseline[k]) for k in baseline},
        "n_problems": len(groups),
        "n_rollouts": len(rollouts),
    }
