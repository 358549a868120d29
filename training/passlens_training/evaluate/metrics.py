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
from typing import Callable, Iterable, Sequence

import numpy as np

from ..records import ScoredRollout
from .gutter import gutter_metrics
from .intervals import BOOTSTRAP_SAMPLES, bootstrap_indices, interval

THRESHOLD = 0.5
PERCENTILES = tuple(range(0, 101, 10))
KS = (1, 3, 10)
PICKER_SIZES = (2, 4, 8, 16)
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
    """Unbiased pass@k of n samples with c passing: 1 − C(n−c, k)/C(n, k). For k > n it is
    pass@n (no more than n samples can be drawn): 1 when any passes, else 0."""
    if n < 1 or k < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs n >= 1, k >= 1 and 0 <= c <= n; got n={n}, c={c}, k={k}")
    k = min(k, n)
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def best_of_k(group: Sequence[ScoredRollout], k: int) -> bool:
    """Did any of the k rollouts with the highest s pass? Ties keep file order (stable sort)."""
    order = sorted(range(len(group)), key=lambda i: -group[i].s)
    return any(group[i].passed for i in order[:k])


def classification_rollouts(rollouts: Sequence[ScoredRollout]) -> tuple[list[ScoredRollout], str]:
    """The paper's Table 2 is over the test rollouts of forking: trunks and forks. A scores
    file with independent samples keeps those for selection; one without has only forks."""
    forks = [r for r in rollouts if not r.independent]
    return (forks, "forks") if forks else (list(rollouts), "independent samples")


def compute_metrics(rollouts: Sequence[ScoredRollout], *, bootstrap_samples: int = BOOTSTRAP_SAMPLES,
                    bootstrap_seed: int = 0) -> dict:
    """Everything evaluate reports for one scores file (docs/EVALUATION.md): classification on
    the fork rollouts, selection (best-of-k of every ranker, with intervals) on independent
    samples, and the gutter's decisive-line metric."""
    rollouts = list(rollouts)
    if not rollouts:
        raise ValueError("no scored rollouts to evaluate")
    forks, classified = classification_rollouts(rollouts)
    groups = group_by_problem(rollouts)
    selection = selection_metrics(rollouts, bootstrap_samples=bootstrap_samples, seed=bootstrap_seed)
    headline = selection["subsets"]["all"]["rankers"]
    baseline = {k: headline["random"]["best_of_k"][k]["value"] for k in map(str, KS)}
    best = {k: headline["critic_final"]["best_of_k"][k]["value"] for k in map(str, KS)}
    return {
        "classification_data": classified,
        "imbalanced": classification_metrics(forks, np.ones(len(forks))),
        "balanced": classification_metrics(forks, balanced_weights(forks)),
        "independent_imbalanced": (classification_metrics(ind, np.ones(len(ind)))
                                   if (ind := [r for r in rollouts if r.independent]) else None),
        "baseline_pass_at_k": baseline,
        "best_of_k": best,
        "relative_improvement": {k: _ratio(best[k] - baseline[k], baseline[k]) for k in baseline},
        "selection": selection,
        "gutter": gutter_metrics(rollouts, bootstrap_samples=bootstrap_samples, seed=bootstrap_seed),
        "n_problems": len(groups),
        "n_rollouts": len(rollouts),
    }


# ---------------------------------------------------------------- selection: rankers and intervals

def _code_values(r: ScoredRollout) -> Sequence[float]:
    """Values of the code tokens up to the ranking index (the rollout's s when there are none)."""
    code = r.values[r.code_start:r.ranked_index + 1]
    return code if code else (r.s,)


def _likelihood_tokens(r: ScoredRollout) -> Sequence[float] | None:
    """The generator's log-probabilities of the tokens up to the ranking index: the end token
    that follows is not part of the text the editor sees (contracts: ranking index)."""
    return None if r.logprobs is None else r.logprobs[:r.ranked_index + 1]


RANKERS: dict[str, Callable[[ScoredRollout], float | None]] = {
    "likelihood_mean": lambda r: None if (lp := _likelihood_tokens(r)) is None else float(np.mean(lp)),
    "likelihood_total": lambda r: None if (lp := _likelihood_tokens(r)) is None else float(np.sum(lp)),
    "critic_final": lambda r: r.s,
    "critic_min": lambda r: float(min(_code_values(r))),
}
"""Deterministic rankers: a score per rollout, higher ranks first (ties keep file order).
`random` and `oracle` are computed exactly (pass@k; pass first)."""

RANKER_ORDER = ("random", "likelihood_mean", "likelihood_total", "critic_final", "critic_min", "oracle")
DIFFERENCES = (("critic_final", "likelihood_mean"), ("critic_final", "likelihood_total"), ("critic_final", "random"),
               ("critic_min", "likelihood_mean"))


def ranked_passes(group: Sequence[ScoredRollout], score: Callable[[ScoredRollout], float | None]) -> list[bool] | None:
    """The group's pass labels in the ranker's order (best first, ties in file order); None
    when the ranker has no score for some rollout (no generator log-probabilities)."""
    scores = [score(r) for r in group]
    if any(s is None for s in scores):
        return None
    order = sorted(range(len(group)), key=lambda i: -scores[i])
    return [group[i].passed for i in order]


def top_k_success(passes_in_order: Sequence[bool], k: int) -> float:
    return float(any(passes_in_order[:k]))


def picker_success(passes_in_order: Sequence[bool], m: int) -> float:
    """Expected success of taking the ranker's best of m candidates drawn at random from the
    n samples: the j-th ranked is the best of the draw when it is drawn and none of the j
    above it is, with probability C(n−1−j, m−1)/C(n, m). m > n reads as m = n."""
    n = len(passes_in_order)
    m = min(m, n)
    total = math.comb(n, m)
    return sum(math.comb(n - 1 - j, m - 1) for j, ok in enumerate(passes_in_order) if ok) / total


def per_problem_successes(groups: Sequence[Sequence[ScoredRollout]]) -> dict[str, dict[str, np.ndarray] | None]:
    """ranker → {"best_of_k/K": array over problems, "picker/M": ...}; None when the ranker
    cannot score these rollouts."""
    out: dict[str, dict[str, np.ndarray] | None] = {}
    for name in RANKER_ORDER:
        rows: dict[str, list[float]] = {}
        unavailable = False
        for g in groups:
            n, c = len(g), sum(r.passed for r in g)
            if name == "random":
                top = {k: pass_at_k(n, c, k) for k in KS}
                pick = {m: c / n for m in PICKER_SIZES}
            else:
                order = ([True] * c + [False] * (n - c) if name == "oracle"
                         else ranked_passes(g, RANKERS[name]))
                if order is None:
                    unavailable = True
                    break
                top = {k: top_k_success(order, k) for k in KS}
                pick = {m: picker_success(order, m) for m in PICKER_SIZES}
            for k, v in top.items():
                rows.setdefault(f"best_of_k/{k}", []).append(v)
            for m, v in pick.items():
                rows.setdefault(f"picker/{m}", []).append(v)
        out[name] = None if unavailable else {key: np.asarray(v, dtype=float) for key, v in rows.items()}
    return out


def selection_metrics(rollouts: Sequence[ScoredRollout], *, bootstrap_samples: int = BOOTSTRAP_SAMPLES,
                      seed: int = 0) -> dict:
    """Best-of-k and the picker's best-of-m for every ranker, on independent samples when
    the file has them (else on all rollouts, labelled so), over all problems and over the
    problems with at least one passing sample; paired bootstrap intervals over problems."""
    independent = [r for r in rollouts if r.independent]
    data = independent or list(rollouts)
    groups = list(group_by_problem(data).values())
    subsets = {"all": groups, "solvable": [g for g in groups if any(r.passed for r in g)]}
    out = {"data": "independent samples" if independent else "all rollouts (no independent samples: forks share a trunk)",
           "samples_per_problem": [min(map(len, groups)), max(map(len, groups))],
           "bootstrap": {"samples": bootstrap_samples, "seed": seed, "resampled": "problems"},
           "subsets": {}}
    for subset, members in subsets.items():
        if not members:
            out["subsets"][subset] = {"n_problems": 0, "rankers": {}, "differences": {}}
            continue
        successes = per_problem_successes(members)
        resamples = bootstrap_indices(len(members), bootstrap_samples, seed)
        rankers: dict[str, dict | None] = {}
        for name, table in successes.items():
            if table is None:
                rankers[name] = None
                continue
            rankers[name] = {"best_of_k": {str(k): interval(table[f"best_of_k/{k}"], resamples) for k in KS},
                             "picker": {str(m): interval(table[f"picker/{m}"], resamples) for m in PICKER_SIZES}}
        differences = {}
        for a, b in DIFFERENCES:
            if successes.get(a) is None or successes.get(b) is None:
                differences[f"{a} - {b}"] = None
                continue
            differences[f"{a} - {b}"] = {
                "best_of_k": {str(k): interval(successes[a][f"best_of_k/{k}"] - successes[b][f"best_of_k/{k}"], resamples) for k in KS},
                "picker": {str(m): interval(successes[a][f"picker/{m}"] - successes[b][f"picker/{m}"], resamples) for m in PICKER_SIZES},
            }
        out["subsets"][subset] = {"n_problems": len(members), "n_rollouts": sum(map(len, members)),
                                  "rankers": rankers, "differences": differences}
    return out


def beats_likelihood(selection: dict, subset: str = "all", k: str = "1") -> bool | None:
    """The effect bar: the critic's best-of-k exceeds both likelihood rankers' with the
    paired 95 % interval of each difference above 0; None without log-probabilities."""
    diffs = selection["subsets"][subset]["differences"]
    pair = [diffs.get("critic_final - likelihood_mean"), diffs.get("critic_final - likelihood_total")]
    if any(d is None for d in pair):
        return None
    return all(d["best_of_k"][k]["ci"][0] > 0 for d in pair)
