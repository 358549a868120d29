"""Paired bootstrap intervals over problems (docs/EVALUATION.md): every figure of one
evaluation is resampled with the same draws of problems, so differences are paired."""
from __future__ import annotations

import numpy as np

BOOTSTRAP_SAMPLES = 2000


def bootstrap_indices(n_problems: int, samples: int, seed: int) -> np.ndarray:
    """[samples, n_problems] problem indices drawn with replacement (numpy's PCG64, `seed`)."""
    return np.random.default_rng(seed).integers(0, n_problems, size=(samples, n_problems))


def interval(values: np.ndarray, resamples: np.ndarray) -> dict:
    """The mean over problems and its bootstrap 95 % percentile interval."""
    means = np.asarray(values, dtype=float)[resamples].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"value": float(np.mean(values)), "ci": [float(lo), float(hi)]}


def ratio_interval(numerators: np.ndarray, denominators: np.ndarray, resamples: np.ndarray) -> dict:
    """Σ numerators / Σ denominators over problems (a rate over rollouts, with problems as
    the resampled unit) and its bootstrap 95 % percentile interval."""
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    ratios = num[resamples].sum(axis=1) / np.maximum(den[resamples].sum(axis=1), 1e-12)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return {"value": float(num.sum() / den.sum()), "ci": [float(lo), float(hi)]}
