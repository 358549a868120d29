"""What quantising a critic bundle costs in ranking quality, on a real run's test split.

Scores the evaluated split's independent samples with every variant of a bundle (onnxruntime,
one full pass per rollout) and compares each with the PyTorch scores the run wrote: largest and
mean |Δ p(pass)| over response tokens and at the ranking index, AUROC of the ranking value, and
best-of-1 (the critic's pick among each problem's samples) with a paired bootstrap interval
against fp32 ORT. Prints a table and writes JSON.

    .venv/bin/python benchmarks/critic/variants_quality.py --bundle .cache/real/cpu/critic-bundle-quant \
        --dataset .cache/real/cpu/dataset --scores docs/real-cpu/scores-test.jsonl --out docs/real-cpu/variants.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
from passlens_training.evaluate.metrics import weighted_auroc  # noqa: E402
from passlens_training.export.critic_bundle import read_manifest, run_onnx  # noqa: E402
from passlens_training.records import read_dataset_shards, read_scores  # noqa: E402


def pick(values: dict[str, float], ids: list[str]) -> str:
    """The rollout with the highest value (ties: first in file order)."""
    return max(ids, key=lambda i: values[i])


def best_of_1(values: dict[str, float], passed: dict[str, bool], problems: dict[str, list[str]]) -> np.ndarray:
    """Per problem: does the critic's pick pass."""
    return np.array([float(passed[pick(values, ids)]) for ids in problems.values()])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--dataset", required=True, help="the run's dataset folder (token ids of every rollout)")
    ap.add_argument("--scores", required=True, help="the run's PyTorch scores of the split")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=2000)
    args = ap.parse_args()

    bundle = Path(args.bundle)
    manifest = read_manifest(bundle)
    reference = {r.rollout_id: r for r in read_scores(args.scores) if r.independent}
    records = {r["rollout_id"]: r for r in read_dataset_shards(args.dataset) if r["rollout_id"] in reference}
    missing = set(reference) - set(records)
    if missing:
        raise SystemExit(f"{len(missing)} scored rollouts are not in {args.dataset} (e.g. {sorted(missing)[:3]})")
    problems: dict[str, list[str]] = defaultdict(list)
    for rid, r in reference.items():
        problems[r.problem_id].append(rid)
    passed = {rid: r.passed for rid, r in reference.items()}
    torch_s = {rid: r.s for rid, r in reference.items()}

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    results: dict[str, dict] = {}
    picks: dict[str, np.ndarray] = {}
    scores: dict[str, dict[str, float]] = {}
    for dtype, entry in manifest["files"].items():
        session = ort.InferenceSession(str(bundle / entry["path"]), options, providers=["CPUExecutionProvider"])
        s: dict[str, float] = {}
        diffs, s_diffs = [], []
        started = time.perf_counter()
        for rid in tqdm(reference, desc=dtype, unit="rollout"):
            rec, ref = records[rid], reference[rid]
            ids = np.array([rec["prompt_token_ids"] + rec["token_ids"]])
            values, _ = run_onnx(session, manifest, ids, np.ones_like(ids))
            response = values[0][len(rec["prompt_token_ids"]):]
            diffs.append(np.abs(response - np.array(ref.values)))
            s[rid] = float(response[ref.ranked_index])
            s_diffs.append(abs(s[rid] - torch_s[rid]))
        seconds = time.perf_counter() - started
        every = np.concatenate(diffs)
        picks[dtype] = best_of_1(s, passed, problems)
        scores[dtype] = s
        results[dtype] = {
            "file_bytes": sum((bundle / entry[k]).stat().st_size for k in ("path", "external_data") if entry.get(k)),
            "max_abs_diff_tokens": float(every.max()), "mean_abs_diff_tokens": float(every.mean()),
            "max_abs_diff_ranking_value": float(max(s_diffs)),
            "auroc": weighted_auroc(np.array([s[r] for r in reference]), np.array([passed[r] for r in reference], dtype=float)),
            "best_of_1": float(picks[dtype].mean()),
            "seconds_per_rollout": seconds / len(reference),
        }
    base = picks.get("fp32")
    rng = np.random.default_rng(0)
    for dtype, r in results.items():
        if base is None or dtype == "fp32":
            continue
        delta = picks[dtype] - base
        boots = [delta[rng.integers(0, len(delta), len(delta))].mean() for _ in range(args.bootstrap)]
        r["best_of_1_minus_fp32"] = float(delta.mean())
        r["best_of_1_minus_fp32_interval"] = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]
        r["same_pick_as_fp32"] = sum(pick(scores[dtype], ids) == pick(scores["fp32"], ids) for ids in problems.values())
    summary = {"bundle": str(bundle), "rollouts": len(reference), "problems": len(problems), "variants": results,
               "torch_auroc": weighted_auroc(np.array([torch_s[r] for r in reference]), np.array([passed[r] for r in reference], dtype=float))}
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{len(reference)} independent samples of {len(problems)} problems; PyTorch AUROC {summary['torch_auroc']:.3f}")
    print(f"{'variant':8} {'MB':>7} {'max|Δ|':>8} {'mean|Δ|':>8} {'max|Δs|':>8} {'AUROC':>6} {'best-of-1':>9} {'vs fp32':>22} {'same pick':>9} {'s/rollout':>9}")
    for dtype, r in results.items():
        vs = (f"{100 * r['best_of_1_minus_fp32']:+.1f} pp [{100 * r['best_of_1_minus_fp32_interval'][0]:+.1f}, "
              f"{100 * r['best_of_1_minus_fp32_interval'][1]:+.1f}]") if "best_of_1_minus_fp32" in r else ""
        print(f"{dtype:8} {r['file_bytes'] / 1e6:7.0f} {r['max_abs_diff_tokens']:8.4f} {r['mean_abs_diff_tokens']:8.4f} "
              f"{r['max_abs_diff_ranking_value']:8.4f} {r['auroc']:6.3f} {100 * r['best_of_1']:8.1f}% {vs:>22} {r.get('same_pick_as_fp32', len(problems)):>9} {r['seconds_per_rollout']:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
