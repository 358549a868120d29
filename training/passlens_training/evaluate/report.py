"""Evaluate critics from scores files: metrics.json, a Table-2-style report.md and plots.

    python -m passlens_training.evaluate --scores FILE --out DIR
    python -m passlens_training.evaluate --scores balanced=A.jsonl --scores imbalanced=B.jsonl --out DIR \
        [--data ROLLOUT_SHARDS_OR_DIR]   # rollout records, to print the code beside the confidence trace

One model: DIR/metrics.json and DIR/plots/. Several: DIR/<name>/metrics.json and DIR/<name>/plots/;
report.md and plots/percentile_accuracy.png in DIR compare them side by side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from ..config import read_config
from ..records import ScoredRollout, read_rollouts, read_scores
from . import plots
from .metrics import KS, compute_metrics

RATE_ROWS = (
    ("Predicted Positive", "predicted_positive_rate"),
    ("Predicted Negative", "predicted_negative_rate"),
    ("Accuracy", "accuracy"),
    (r"Precision (P(pass \| positive))", "precision"),
    (r"Negative predictive value (P(fail \| negative))", "negative_predictive_value"),
    (r"True positive rate (P(positive \| pass))", "true_positive_rate"),
    (r"True negative rate (P(negative \| fail))", "true_negative_rate"),
    ("AUROC", "auroc"),
    ("ECE (10 bins)", "ece"),
)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def render_report(results: dict[str, dict]) -> str:
    names = list(results)
    header = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    out = ["# PassLens critic evaluation (layout of the paper's Table 2)\n"]
    for subset, caption in (("imbalanced", "Imbalanced test set (every rollout weight 1)"),
                            ("balanced", "Balanced test set (minority class per problem re-weighted)")):
        out.append(f"\n## {caption}\n\n" + header)
        for label, key in RATE_ROWS:
            fmt = _num if key in ("auroc", "ece") else _pct
            out.append(f"| {label} | " + " | ".join(fmt(results[n][subset][key]) for n in names) + " |\n")
    out.append("\n## Selecting rollouts with the critic\n\n" + header)
    for k in KS:
        out.append(f"| Pass@{k} (baseline) | " + " | ".join(_pct(results[n]["baseline_pass_at_k"][str(k)]) for n in names) + " |\n")
        out.append(f"| Pass@{k} on best | " + " | ".join(_pct(results[n]["best_of_k"][str(k)]) for n in names) + " |\n")
        out.append(f"| Relative improvement @{k} | " + " | ".join(
            "–" if results[n]["relative_improvement"][str(k)] is None else f"{100 * results[n]['relative_improvement'][str(k)]:+.1f}%"
            for n in names) + " |\n")
    out.append("\n## Percentile accuracy (imbalanced; % of tokens from the first code line)\n\n")
    out.append("| % | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n")
    for p in range(0, 101, 10):
        out.append(f"| {p} | " + " | ".join(_pct(results[n]["imbalanced"]["percentile_accuracy"][str(p)]) for n in names) + " |\n")
    out.append("\n" + " · ".join(f"{n}: {results[n]['n_problems']} problems, {results[n]['n_rollouts']} rollouts" for n in names) + "\n")
    return "".join(out)


def load_codes(paths: Sequence[Path]) -> dict[str, str]:
    """rollout_id → extracted code (else generated text) from rollout-record JSONL files or dirs."""
    return {rec["rollout_id"]: rec.get("code") or rec.get("text") or "" for rec in read_rollouts(paths)}


def pick_trace_rollout(rollouts: Sequence[ScoredRollout]) -> ScoredRollout:
    """The most confident passing rollout (the paper's Fig. 1b shows a correct generation), else the first."""
    passed = [r for r in rollouts if r.passed]
    return max(passed, key=lambda r: r.s) if passed else rollouts[0]


def evaluate(named_scores: dict[str, Path], out: Path, data: Sequence[Path] = ()) -> dict[str, dict]:
    out.mkdir(parents=True, exist_ok=True)
    codes = load_codes(data) if data else {}
    results = {}
    for name, path in named_scores.items():
        rollouts = read_scores(path)
        metrics = compute_metrics(rollouts)
        results[name] = metrics
        model_dir = out if len(named_scores) == 1 else out / name
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        plots.score_histogram(rollouts, model_dir / "plots" / "score_histogram.png", title=f"{name}: scores by label")
        trace = pick_trace_rollout(rollouts)
        plots.confidence_trace(trace, model_dir / "plots" / "confidence_trace.png", code=codes.get(trace.rollout_id))
        plots.reliability_diagram(rollouts, model_dir / "plots" / "reliability.png", title=f"{name}: reliability")
    plots.percentile_accuracy({n: m["imbalanced"]["percentile_accuracy"] for n, m in results.items()},
                              out / "plots" / "percentile_accuracy.png")
    (out / "report.md").write_text(render_report(results), encoding="utf-8")
    return results


def parse_named(values: Sequence[str]) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep:
            name, path = Path(v).stem, v
        if name in named:
            raise SystemExit(f"--scores: model name {name!r} given twice; name them NAME=FILE")
        if not Path(path).is_file():
            raise SystemExit(f"--scores: {path} is not a file (write it with python -m passlens_training.score)")
        named[name] = Path(path)
    return named


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m passlens_training.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="experiment YAML whose evaluate section gives defaults for scores and out")
    ap.add_argument("--scores", action="append", help="scores JSONL, or NAME=FILE (repeat for several models)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--data", action="append", type=Path, default=[], help="rollout shards (files or a dataset dir) for the code beside the trace")
    args = ap.parse_args(argv)
    section = (read_config(args.config).get("evaluate") or {}) if args.config else {}
    scores = args.scores or ([section["scores"]] if isinstance(section.get("scores"), str) else section.get("scores"))
    out = args.out or (Path(section["out"]) if section.get("out") else None)
    if not scores or out is None:
        ap.error("give --scores and --out (or a --config whose evaluate section has scores and out)")
    args.scores, args.out = scores, out
    try:
        results = evaluate(parse_named(args.scores), args.out, args.data)
    except ValueError as exc:
        raise SystemExit(f"evaluate: {exc}") from exc
    for name, m in results.items():
        print(f"{name}: accuracy {_pct(m['imbalanced']['accuracy'])} (balanced {_pct(m['balanced']['accuracy'])}), "
              f"auroc {_num(m['imbalanced']['auroc'])}, best-of-1 {_pct(m['best_of_k']['1'])} vs pass@1 {_pct(m['baseline_pass_at_k']['1'])}")
    print(f"wrote {args.out / 'report.md'}")
