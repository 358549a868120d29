"""Evaluate critics from scores files: metrics.json, a report.md and plots.

    python -m passlens_training.evaluate --scores FILE --out DIR [--calibration FILE]
    python -m passlens_training.evaluate --scores balanced=A.jsonl --scores imbalanced=B.jsonl --out DIR \
        [--data ROLLOUT_SHARDS_OR_DIR]   # rollout records, to print the code beside the confidence trace

One model: DIR/metrics.json and DIR/plots/. Several: DIR/<name>/metrics.json and DIR/<name>/plots/;
report.md and plots/percentile_accuracy.png in DIR compare them side by side. report.md has
the paper's Table 2 (on the fork rollouts), best-of-k of every ranker with intervals (on the
independent samples), the gutter's decisive-line metric and, with --calibration (fitted on a
validation split), calibration before/after. Definitions: docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from ..config import read_config
from ..contracts import calibrate
from ..records import ScoredRollout, read_rollouts, read_scores
from . import plots
from .calibrate import calibration_rollouts, log_loss, read_calibration
from .gutter import GUTTER_RANKERS
from .metrics import DIFFERENCES, KS, PICKER_SIZES, RANKER_ORDER, compute_metrics, expected_calibration_error, reliability_bins

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


RANKER_LABELS = {
    "random": "random (= pass@k)",
    "likelihood_mean": "generator mean token log-prob",
    "likelihood_total": "generator total log-prob",
    "critic_final": "critic final value (ranking index)",
    "critic_min": "critic minimum over code tokens",
    "oracle": "oracle",
}
SUBSET_LABELS = {"all": "all problems of the split", "solvable": "problems with at least one passing sample"}
GUTTER_LABELS = {"critic_largest_drop": "line of the critic's largest drop",
                 "generator_least_likely_token": "line of the generator's least likely token",
                 "random_line": "a random line"}


def _ci(cell: dict | None, fmt=None) -> str:
    """"59.1% [52.0, 66.3]": a value with its 95 % interval."""
    if cell is None:
        return "–"
    fmt = fmt or (lambda v: f"{100 * v:.1f}")
    lo, hi = cell["ci"]
    return f"{fmt(cell['value'])}% [{fmt(lo)}, {fmt(hi)}]"


def _signed(v: float) -> str:
    return f"{100 * v:+.1f}"


def selection_table(metrics: dict, subset: str) -> list[str]:
    """Rankers × best-of-k and the picker's best of m, each with its interval."""
    sel = metrics["selection"]["subsets"][subset]
    heads = [f"best-of-{k}" for k in KS] + [f"picker, best of {m}" for m in PICKER_SIZES]
    lines = ["| ranker | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(heads)]
    for name in RANKER_ORDER:
        r = sel["rankers"].get(name)
        cells = (["–"] * len(heads) if r is None else
                 [_ci(r["best_of_k"][str(k)]) for k in KS] + [_ci(r["picker"][str(m)]) for m in PICKER_SIZES])
        lines.append(f"| {RANKER_LABELS[name]} | " + " | ".join(cells) + " |")
    return lines


def differences_table(metrics: dict, subset: str) -> list[str]:
    sel = metrics["selection"]["subsets"][subset]
    heads = [f"best-of-{k}" for k in KS] + [f"picker, best of {m}" for m in PICKER_SIZES]
    lines = ["| difference (percentage points) | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(heads)]
    for a, b in DIFFERENCES:
        d = sel["differences"].get(f"{a} - {b}")
        cells = (["–"] * len(heads) if d is None else
                 [_ci(d["best_of_k"][str(k)], _signed).replace("%", " pp") for k in KS]
                 + [_ci(d["picker"][str(m)], _signed).replace("%", " pp") for m in PICKER_SIZES])
        lines.append(f"| {RANKER_LABELS[a]} − {RANKER_LABELS[b]} | " + " | ".join(cells) + " |")
    return lines


def gutter_table(metrics: dict) -> list[str]:
    g = metrics["gutter"]
    lines = ["| the line picked is the decisive line | rate [95 % interval] |", "| --- | --- |"]
    lines += [f"| {GUTTER_LABELS[name]} | {_ci(g['rates'].get(name))} |" for name in GUTTER_RANKERS]
    skipped = g["not_eligible"]
    lines += ["", f"{g['n_rollouts']} failing fork rollouts of {g['n_problems']} problems with a known decisive code line "
              f"(of {g['n_failing_rollouts']} failing; {skipped['no_passing_sibling_or_no_token_data']} without a passing "
              f"sibling, {skipped['decisive_token_outside_code']} whose decisive token is outside the code)."]
    return lines


def calibration_table(metrics: dict) -> list[str]:
    c = metrics.get("calibration")
    if not c:
        return []
    return [f"Platt scaling a = {c['a']:.3f}, b = {c['b']:.3f}, fitted on {c['fitted_on'].get('rollouts')} "
            f"{c['fitted_on'].get('data')} of the validation split; measured here on {c['rollouts']} {c['data']}.", "",
            "| | before | after |", "| --- | --- | --- |",
            f"| ECE (10 bins) | {c['ece_before']:.3f} | {c['ece_after']:.3f} |",
            f"| log loss | {c['log_loss_before']:.3f} | {c['log_loss_after']:.3f} |",
            f"| mean p(pass) (pass rate {100 * c['pass_rate']:.1f}%) | {100 * c['mean_before']:.1f}% | {100 * c['mean_after']:.1f}% |"]


def render_report(results: dict[str, dict]) -> str:
    names = list(results)
    header = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    out = ["# PassLens critic evaluation\n\nDefinitions: docs/EVALUATION.md.\n"]
    for subset, caption in (("imbalanced", "Imbalanced test set (fork rollouts, every rollout weight 1)"),
                            ("balanced", "Balanced test set (fork rollouts, minority class per problem re-weighted)")):
        out.append(f"\n## {caption}\n\n" + header)
        for label, key in RATE_ROWS:
            fmt = _num if key in ("auroc", "ece") else _pct
            out.append(f"| {label} | " + " | ".join(fmt(results[n][subset][key]) for n in names) + " |\n")
    out.append("\n## Percentile accuracy (imbalanced; % of tokens from the first code line)\n\n")
    out.append("| % | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n")
    for p in range(0, 101, 10):
        out.append(f"| {p} | " + " | ".join(_pct(results[n]["imbalanced"]["percentile_accuracy"][str(p)]) for n in names) + " |\n")
    for n in names:
        m = results[n]
        sel = m["selection"]
        title = f" ({n})" if len(names) > 1 else ""
        out.append(f"\n## Selecting candidates{title}\n\nOn {sel['data']}, {sel['samples_per_problem'][0]}–"
                   f"{sel['samples_per_problem'][1]} per problem; 95 % paired bootstrap intervals "
                   f"({sel['bootstrap']['samples']} resamples of problems).\n")
        for subset in ("all", "solvable"):
            s = sel["subsets"][subset]
            out.append(f"\n### {SUBSET_LABELS[subset]} ({s['n_problems']})\n\n")
            if s["n_problems"]:
                out.append("\n".join(selection_table(m, subset)) + "\n\n" + "\n".join(differences_table(m, subset)) + "\n")
        out.append(f"\n## The gutter's decisive line{title}\n\n" + "\n".join(gutter_table(m)) + "\n")
        if m.get("calibration"):
            out.append(f"\n## Calibration{title}\n\n" + "\n".join(calibration_table(m)) + "\n")
    out.append("\n" + " · ".join(f"{n}: {results[n]['n_problems']} problems, {results[n]['n_rollouts']} rollouts" for n in names) + "\n")
    return "".join(out)


def calibration_metrics(rollouts: Sequence[ScoredRollout], calibration: dict) -> dict:
    """ECE, log loss and reliability of the final values before and after `calibration`, on
    the independent samples when there are some (what a picker shows), else on every rollout."""
    data, kind = calibration_rollouts(rollouts)
    s = [r.s for r in data]
    y = [r.passed for r in data]
    after = calibrate(s, calibration)
    return {"method": calibration["method"], "a": calibration["a"], "b": calibration["b"],
            "fitted_on": calibration.get("fitted_on") or {}, "data": kind, "rollouts": len(data),
            "pass_rate": float(sum(y) / len(y)), "mean_before": float(sum(s) / len(s)), "mean_after": float(sum(after) / len(after)),
            "ece_before": expected_calibration_error(s, y), "ece_after": expected_calibration_error(after, y),
            "log_loss_before": log_loss(s, y), "log_loss_after": log_loss(after, y),
            "reliability_before": reliability_bins(s, y), "reliability_after": reliability_bins(after, y)}


def load_codes(paths: Sequence[Path]) -> dict[str, str]:
    """rollout_id → extracted code (else generated text) from rollout-record JSONL files or dirs."""
    return {rec["rollout_id"]: rec.get("code") or rec.get("text") or "" for rec in read_rollouts(paths)}


def pick_trace_rollout(rollouts: Sequence[ScoredRollout]) -> ScoredRollout:
    """The most confident passing rollout (the paper's Fig. 1b shows a correct generation), else the first."""
    passed = [r for r in rollouts if r.passed]
    return max(passed, key=lambda r: r.s) if passed else rollouts[0]


def evaluate(named_scores: dict[str, Path], out: Path, data: Sequence[Path] = (), calibration: dict | None = None) -> dict[str, dict]:
    out.mkdir(parents=True, exist_ok=True)
    codes = load_codes(data) if data else {}
    results = {}
    for name, path in named_scores.items():
        rollouts = read_scores(path)
        metrics = compute_metrics(rollouts)
        if calibration is not None:
            metrics["calibration"] = calibration_metrics(rollouts, calibration)
        results[name] = metrics
        model_dir = out if len(named_scores) == 1 else out / name
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        plots.score_histogram(rollouts, model_dir / "plots" / "score_histogram.png", title=f"{name}: scores by label")
        trace = pick_trace_rollout(rollouts)
        plots.confidence_trace(trace, model_dir / "plots" / "confidence_trace.png", code=codes.get(trace.rollout_id))
        plots.reliability_diagram(rollouts, model_dir / "plots" / "reliability.png", title=f"{name}: reliability",
                                  calibration=calibration)
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
    ap.add_argument("--calibration", type=Path, help="calibration file fitted on a validation split: ECE and reliability before/after")
    ap.add_argument("--quiet", action="store_true", help="print no figures (an untouched test split is read in its report only)")
    args = ap.parse_args(argv)
    section = (read_config(args.config).get("evaluate") or {}) if args.config else {}
    scores = args.scores or ([section["scores"]] if isinstance(section.get("scores"), str) else section.get("scores"))
    out = args.out or (Path(section["out"]) if section.get("out") else None)
    if not scores or out is None:
        ap.error("give --scores and --out (or a --config whose evaluate section has scores and out)")
    args.scores, args.out = scores, out
    try:
        calibration = read_calibration(args.calibration) if args.calibration else None
        results = evaluate(parse_named(args.scores), args.out, args.data, calibration)
    except ValueError as exc:
        raise SystemExit(f"evaluate: {exc}") from exc
    for name, m in ({} if args.quiet else results).items():
        rankers = m["selection"]["subsets"]["all"]["rankers"]
        likelihood = rankers.get("likelihood_mean")
        print(f"{name}: accuracy {_pct(m['imbalanced']['accuracy'])} (balanced {_pct(m['balanced']['accuracy'])}), "
              f"auroc {_num(m['imbalanced']['auroc'])}, best-of-1 {_pct(m['best_of_k']['1'])} vs pass@1 {_pct(m['baseline_pass_at_k']['1'])}"
              + (f" and likelihood {_pct(likelihood['best_of_k']['1']['value'])}" if likelihood else ""))
    print(f"wrote {args.out / 'report.md'}")
