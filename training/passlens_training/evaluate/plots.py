"""Figures of the evaluation: score histograms by label (paper Fig. 1a), a per-token confidence
trace with its code (Fig. 1b), percentile accuracy (Fig. 2) and a reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..records import ScoredRollout  # noqa: E402
from .metrics import PERCENTILES, THRESHOLD, expected_calibration_error, reliability_bins  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def score_histogram(rollouts: Sequence[ScoredRollout], path: Path, title: str = "") -> Path:
    s = np.array([r.s for r in rollouts])
    y = np.array([r.passed for r in rollouts])
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 21)
    for label, name, color in ((True, "passed", "tab:green"), (False, "failed", "tab:red")):
        if (y == label).any():
            ax.hist(s[y == label], bins=bins, density=True, alpha=0.55, color=color, label=f"{name} (n={int((y == label).sum())})")
    ax.axvline(THRESHOLD, color="gray", linestyle="--", linewidth=1)
    ax.set(xlabel="predicted success probability (last token)", ylabel="density", title=title or "Scores by label", xlim=(0, 1))
    ax.legend()
    return _save(fig, path)


def confidence_trace(rollout: ScoredRollout, path: Path, code: str | None = None, title: str = "") -> Path:
    values = np.array(rollout.values)
    if code:
        fig, (ax, text_ax) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    else:
        fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(len(values)), values, color="tab:blue")
    if rollout.code_start > 0:
        ax.axvline(rollout.code_start, color="gray", linestyle=":", label="first code token")
        ax.legend(loc="lower right")
    ax.axhline(THRESHOLD, color="gray", linestyle="--", linewidth=1)
    ax.set(xlabel="generated token", ylabel="predicted success probability", ylim=(0, 1),
           title=title or f"{rollout.rollout_id} ({'passed' if rollout.passed else 'failed'})")
    if code:
        lines = code.splitlines()[:40]
        text_ax.axis("off")
        text_ax.text(0, 1, "\n".join(line[:70] for line in lines), family="monospace", fontsize=7, va="top")
    return _save(fig, path)


def percentile_accuracy(curves: dict[str, dict[str, float | None]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        xs = [p for p in PERCENTILES if curve.get(str(p)) is not None]
        ax.plot(xs, [curve[str(p)] for p in xs], marker="o", label=name)
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=1, label="random guess (balanced)")
    ax.set(xlabel="% of tokens from the first code line", ylabel="accuracy", ylim=(0, 1), title="Percentile accuracy")
    ax.legend()
    return _save(fig, path)


def reliability_diagram(rollouts: Sequence[ScoredRollout], path: Path, title: str = "", calibration: dict | None = None) -> Path:
    """Pass rate against mean p(pass) per bin of the final values; with a calibration, before
    and after it (on the independent samples when there are some, as evaluate measures ECE)."""
    from ..contracts import calibrate
    from .calibrate import calibration_rollouts

    data = calibration_rollouts(rollouts)[0] if calibration else list(rollouts)
    s = np.array([r.s for r in data])
    y = np.array([r.passed for r in data], dtype=float)
    curves = [("critic", s, "tab:orange")]
    if calibration:
        curves = [("before calibration", s, "tab:orange"), ("after calibration", np.array(calibrate(s, calibration)), "tab:blue")]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect calibration")
    for label, scores, color in curves:
        bins = [b for b in reliability_bins(scores, y) if b["n"]]
        ax.plot([b["mean_score"] for b in bins], [b["mean_label"] for b in bins], marker="o", color=color,
                label=f"{label} (ECE {expected_calibration_error(scores, y):.3f})")
        ax.scatter([b["mean_score"] for b in bins], [b["mean_label"] for b in bins], s=[8 + 2 * np.sqrt(b["n"]) for b in bins],
                   color=color, alpha=0.3)
    ax.set(xlabel="predicted success probability (final value)", ylabel="observed pass rate", xlim=(0, 1), ylim=(0, 1),
           title=title or "Reliability")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)
