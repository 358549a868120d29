"""Stage 4, evaluation: `score` (per-token values of test rollouts into a scores file) and
`evaluate` (the paper's Table 2, best-of-k, percentile accuracy, plots)."""
