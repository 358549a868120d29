"""Calibration of a critic's p(pass): Platt scaling fitted on a validation split.

    python -m passlens_training.evaluate.calibrate --scores validation-scores.jsonl --out CHECKPOINT/passlens-calibration.json

Fits p' = sigmoid(a · logit(p) + b) to the final values (the ranking index's) of the
validation rollouts by maximum likelihood — on the independent samples when the scores file
has them (the candidates a picker shows), else on every rollout. `export` copies the file
from the checkpoint folder into the bundle manifest (`calibration`), and both runtimes (the
Node critic and the vLLM client) apply it to every value they return, by the rule in
contracts/README.md (`contracts.calibrate`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..contracts import CALIBRATION_EPSILON, calibrate
from ..records import ScoredRollout, read_scores
from .metrics import expected_calibration_error, weighted_auroc

CALIBRATION_NAME = "passlens-calibration.json"  # in a checkpoint folder, beside passlens-training.json


def fit_platt(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a · logit(s) + b) against the labels
    (torch's L-BFGS with a strong-Wolfe line search on a convex two-parameter problem)."""
    import torch

    s = np.clip(np.asarray(scores, dtype=np.float64), CALIBRATION_EPSILON, 1 - CALIBRATION_EPSILON)
    y = np.asarray(labels, dtype=np.float64)
    if len(s) == 0 or y.min() == y.max():
        raise ValueError("calibration needs validation rollouts of both classes (passing and failing)")
    z = torch.tensor(np.log(s / (1 - s)))
    target = torch.tensor(y)
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], lr=1.0, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(params[0] * z + params[1], target)
        loss.backward()
        return loss

    optimizer.step(closure)
    a, b = params.detach().tolist()
    return float(a), float(b)


def log_loss(scores: Sequence[float], labels: Sequence[bool]) -> float:
    p = np.clip(np.asarray(scores, dtype=float), CALIBRATION_EPSILON, 1 - CALIBRATION_EPSILON)
    y = np.asarray(labels, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration_rollouts(rollouts: Sequence[ScoredRollout]) -> tuple[list[ScoredRollout], str]:
    independent = [r for r in rollouts if r.independent]
    return (independent, "independent samples") if independent else (list(rollouts), "all rollouts")


NOT_CALIBRATED_EXIT = 3  # the CLI's exit status when no order-preserving calibration fits (a result, not a failure)


class NotCalibratable(ValueError):
    """The critic ranks failing rollouts above passing ones here: a Platt slope a <= 0."""


def fit_calibration(rollouts: Sequence[ScoredRollout], source: str = "") -> dict:
    """The manifest's `calibration` object, with what it was fitted on and its effect there."""
    data, kind = calibration_rollouts(rollouts)
    s = [r.s for r in data]
    y = [r.passed for r in data]
    a, b = fit_platt(s, y)
    if a <= 0:
        raise NotCalibratable(f"the fitted slope is a = {a:.4f} <= 0: on these rollouts the critic ranks failing ones above "
                         "passing ones, and no order-preserving calibration fits; not calibrated")
    calibration = {"method": "platt", "a": a, "b": b}
    after = calibrate(s, calibration)
    return {**calibration, "fitted_on": {"scores": source, "data": kind, "rollouts": len(data),
                                         "problems": len({r.problem_id for r in data}), "pass_rate": float(np.mean(y))},
            "validation": {"ece_before": expected_calibration_error(np.array(s), np.array(y)),
                           "ece_after": expected_calibration_error(np.array(after), np.array(y)),
                           "log_loss_before": log_loss(s, y), "log_loss_after": log_loss(after, y),
                           "auroc": weighted_auroc(np.array(s), np.array(y))}}


def read_calibration(path: str | Path) -> dict:
    calibration = json.loads(Path(path).read_text(encoding="utf-8"))
    if calibration.get("method") != "platt" or not all(isinstance(calibration.get(k), (int, float)) for k in ("a", "b")) \
            or calibration["a"] <= 0:
        raise ValueError(f"{path}: not a calibration file (expected method 'platt', a number a > 0 and a number b; "
                         "write it with python -m passlens_training.evaluate.calibrate)")
    return calibration


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m passlens_training.evaluate.calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scores", type=Path, required=True, help="scores file of the validation split (never the test split)")
    ap.add_argument("--out", type=Path, required=True, help=f"where to write it; export reads CHECKPOINT/{CALIBRATION_NAME}")
    args = ap.parse_args(argv)
    try:
        calibration = fit_calibration(read_scores(args.scores), args.scores.name)
    except NotCalibratable as exc:
        # Nothing is written, so export and the runtimes use raw values; callers tell this apart by the status.
        print(f"calibrate: {exc}", file=sys.stderr)
        return NOT_CALIBRATED_EXIT
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"calibrate: {exc}") from exc
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(calibration, indent=2) + "\n", encoding="utf-8")
    v = calibration["validation"]
    print(f"calibration a={calibration['a']:.4f} b={calibration['b']:.4f} on {calibration['fitted_on']['rollouts']} "
          f"{calibration['fitted_on']['data']}: ECE {v['ece_before']:.3f} -> {v['ece_after']:.3f} → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
