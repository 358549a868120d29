"""`python -m passlens_training.micro.report --config CONFIG --out docs/reproduction.md [--other-seed SEED=WORK ...]`

Writes the reproduction page from finished micro builds of one config and several seeds:
how to read it (what train and test share by design, what was tuned on what), the
untouched test families' figures over the seeds (mean ± sd), the validation families'
beside them, and the first seed in detail (every ranker's best-of-k with intervals,
calibration, the gutter's decisive line, the paper's Table 2 and percentile accuracy,
per family), with the plots copied next to the page. Numbers come only from the builds'
own files.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Callable

from ..evaluate.metrics import beats_likelihood, group_by_problem, per_problem_successes, weighted_auroc
from ..evaluate.report import (RANKER_LABELS, SUBSET_LABELS, calibration_table, differences_table, gutter_table,
                               selection_table)
from ..records import read_scores
from .build import EVALUATED, STAGES, Build, effect_summary, numeric_env
from .problems import FAMILIES, SLOTS, families_for

HOW_TO_READ = """\
## How to read this

**What train and test share by design.** Every family of every split is written with the same
decisive phrases and the same code for each ({phrases}), the same loop shapes (a counter or a
running total over a list, a string or `range(1, n{{bound}})`; a builtin over a generator; `sorted`
then an index) and the product's prompt templates. The generator's corpus has every family,
held-out ones included: the generator is the pretrained model that can write such code, and
only the critic is held out (it never sees a validation or test family's rollouts). Three
train families mirror validation families line for line (`even_product` has `product_range`'s
`product *= i` loop, `distinct_letters` `distinct_cmp`'s set, `square_count` `squares_below`'s
`i * i` comparison): they were added while tuning on the validation families
(docs/micro-recipe.md, session 5). A critic that learns the slots of this world transfers to
its held-out families far more easily than one trained on APPS transfers to new problems.

**What was tuned on what.** The validation families ({validation}) are the four families that
were "held out" in five sessions of recipe and world tuning (docs/micro-recipe.md: learning
rates, batch composition, merged duplicates, epochs, the generator's rate, the mirrored train
families), every one of them judged by these families' AUROC and best-of-1. They are
validation now, and every later choice is made on them: the calibration is fitted on their
independent samples, the build's summary and `--check` read only them. The test families
({test}) were designed for issue 18 from the world's constructs, before any critic was
evaluated on them, and nothing was changed after their numbers were read: while building
this page the author looked at the validation figures, the dataset statistics and the build
logs, not at the test figures, until the page was generated. They are computed by `evaluate`
like the validation ones and printed only here.

**What could still flatter.** The world is small and templated (a family's correct programs
are a handful of strings); test families reuse the slots the critic was trained on; the
generator has seen test-family code; {n_test} test problems per seed make every best-of-1
figure coarse (one problem is {one_problem}), so the intervals below are wide, and several
seeds show how much one build's luck moves them.

**The figures.** Best-of-k is computed on {samples} independent samples per problem (the
picker's situation), every ranker on the same samples: random (= pass@k), the generator's mean
and total token log-probability, the critic's final value (the ranking index of contracts/) and
its minimum over the code, and the oracle. Intervals are paired bootstrap 95 % intervals over
problems; "all" keeps the problems no sample solves, "solvable" leaves them out. The
classification table (AUROC, ECE; the paper's Table 2) is over the trunk and fork rollouts.
Definitions: docs/EVALUATION.md.
"""


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _mean_sd(values: list[float | None], fmt: Callable[[float], str]) -> str:
    """"mean ± sd" (sample standard deviation) of the values that exist."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.mean(values))} ± {fmt(statistics.stdev(values)).lstrip('+')}"


def load_metrics(build: Build, split: str) -> dict:
    return json.loads((build.evaluation_dir(split) / "metrics.json").read_text())


def headline(m: dict) -> dict[str, float | None]:
    """One seed's row: best-of-1 of every ranker (all problems), the critic-minus-likelihood
    difference, AUROC on the independent samples, ECE before/after and the gutter's rates."""
    sel = m["selection"]["subsets"]["all"]
    row: dict[str, float | None] = {}
    for name in ("random", "likelihood_mean", "likelihood_total", "critic_final", "critic_min", "oracle"):
        r = sel["rankers"].get(name)
        row[name] = None if r is None else r["best_of_k"]["1"]["value"]
    diff = sel["differences"].get("critic_final - likelihood_mean")
    row["diff"] = None if diff is None else diff["best_of_k"]["1"]["value"]
    row["diff_lo"] = None if diff is None else diff["best_of_k"]["1"]["ci"][0]
    row["diff_hi"] = None if diff is None else diff["best_of_k"]["1"]["ci"][1]
    ind = m.get("independent_imbalanced") or {}
    row["auroc"] = ind.get("auroc")
    cal = m.get("calibration") or {}
    row["ece_before"], row["ece_after"] = cal.get("ece_before"), cal.get("ece_after")
    for name, rate in m["gutter"]["rates"].items():
        row[f"gutter_{name}"] = None if rate is None else rate["value"]
    row["beats"] = beats_likelihood(m["selection"])
    row["n_problems"] = sel["n_problems"]
    return row


SEED_COLUMNS = (
    ("random (pass@1)", "random", _pct), ("likelihood mean", "likelihood_mean", _pct),
    ("likelihood total", "likelihood_total", _pct), ("critic final", "critic_final", _pct),
    ("critic min", "critic_min", _pct), ("oracle", "oracle", _pct),
    ("critic − likelihood mean", "diff", lambda v: f"{100 * v:+.1f} pp"),
    ("AUROC", "auroc", _num), ("ECE before", "ece_before", _num), ("ECE after", "ece_after", _num),
    ("gutter: critic", "gutter_critic_largest_drop", _pct),
    ("gutter: generator", "gutter_generator_least_likely_token", _pct),
    ("gutter: random line", "gutter_random_line", _pct),
)


def seeds_table(builds: list[Build], split: str) -> list[str]:
    """Best-of-1 of every ranker (all problems, independent samples), AUROC and ECE on the
    independent samples, the gutter's rates: one row per seed, then mean ± sd."""
    rows = [(b.cfg.seed, headline(load_metrics(b, split))) for b in builds]
    head = ["seed", "problems"] + [c[0] for c in SEED_COLUMNS] + ["critic beats likelihood (CI > 0)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for seed, row in rows:
        diff = "–" if row["diff"] is None else f"{100 * row['diff']:+.1f} pp [{100 * row['diff_lo']:+.1f}, {100 * row['diff_hi']:+.1f}]"
        cells = [fmt(row[key]) if key != "diff" else diff for _, key, fmt in SEED_COLUMNS]
        beats = "–" if row["beats"] is None else "yes" if row["beats"] else "no"
        lines.append(f"| {seed} | {row['n_problems']} | " + " | ".join(cells) + f" | {beats} |")
    if len(rows) > 1:
        cells = [_mean_sd([r[key] for _, r in rows], fmt) for _, key, fmt in SEED_COLUMNS]
        wins = sum(bool(r["beats"]) for _, r in rows)
        lines.append(f"| mean ± sd | | " + " | ".join(cells) + f" | {wins} of {len(rows)} |")
    return lines


def family_table(build: Build, split: str) -> list[str]:
    """Per family (both kinds): problems, AUROC of the final value on the independent
    samples, best-of-1 of random, likelihood (mean), critic (final) and oracle."""
    rollouts = [r for r in read_scores(build.scores_file(split)) if r.independent]
    lines = ["| family | problems | AUROC | random | likelihood mean | critic final | oracle |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for family in families_for(split):
        mine = [r for r in rollouts if f"-{family.name}-" in r.problem_id]
        if not mine:
            continue
        groups = list(group_by_problem(mine).values())
        table = per_problem_successes(groups)
        cells = [_pct(None if table[n] is None else float(table[n]["best_of_k/1"].mean()))
                 for n in ("random", "likelihood_mean", "critic_final", "oracle")]
        auroc = weighted_auroc([r.s for r in mine], [r.passed for r in mine])
        lines.append(f"| `{family.name}` | {len(groups)} | {_num(auroc)} | " + " | ".join(cells) + " |")
    return lines


def detail(build: Build, split: str) -> list[str]:
    m = load_metrics(build, split)
    sel = m["selection"]
    lines = [f"Best-of-k on {sel['data']} ({sel['samples_per_problem'][0]} per problem), "
             f"{sel['bootstrap']['samples']} bootstrap resamples of problems."]
    for subset in ("all", "solvable"):
        s = sel["subsets"][subset]
        lines += ["", f"**{SUBSET_LABELS[subset]}** ({s['n_problems']} problems)", ""]
        if s["n_problems"]:
            lines += selection_table(m, subset) + [""] + differences_table(m, subset)
    lines += ["", "**Calibration** (fitted on the validation families' independent samples)", ""] + calibration_table(m)
    lines += ["", "**The gutter's decisive line** (fork rollouts: does the line the gutter marks hold the token where a "
              "failing rollout left its nearest passing sibling?)", ""] + gutter_table(m)
    lines += ["", "**Per family** (independent samples, best-of-1)", ""] + family_table(build, split)
    lines += ["", f"**Classification** (the paper's Table 2, on the {m['classification_data']})", "",
              "| test data | accuracy | AUROC | ECE | precision | NPV | TPR | TNR |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for variant in ("imbalanced", "balanced"):
        c = m[variant]
        lines.append(f"| {variant} | {_pct(c['accuracy'])} | {_num(c['auroc'])} | {_num(c['ece'])} | {_pct(c['precision'])} | "
                     f"{_pct(c['negative_predictive_value'])} | {_pct(c['true_positive_rate'])} | {_pct(c['true_negative_rate'])} |")
    percentiles = list(m["imbalanced"]["percentile_accuracy"])
    lines += ["", "**Percentile accuracy** (share of the code seen → accuracy of p ≥ 0.5, fork rollouts)", "",
              "| code seen | " + " | ".join(f"{p}%" for p in percentiles) + " |", "| --- |" + " --- |" * len(percentiles)]
    for variant in ("imbalanced", "balanced"):
        acc = m[variant]["percentile_accuracy"]
        lines.append(f"| {variant} | " + " | ".join(_pct(acc[p]) for p in percentiles) + " |")
    return lines


def render(build: Build, out: Path, other_seeds: list[Build] = ()) -> str:
    builds = [build, *other_seeds]
    timings_file = build.work / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    gen_file = build.generator_dir / "passlens-micro-generator.json"
    generator = json.loads(gen_file.read_text()) if gen_file.is_file() else {}
    test = load_metrics(build, "test")
    n_test = test["selection"]["subsets"]["all"]["n_problems"]
    samples = test["selection"]["samples_per_problem"][0]

    # The test split's plots (reliability before/after calibration, histograms, a trace,
    # percentile accuracy) and the dataset's, copied beside the page.
    plots_dir = out.parent / (out.stem + "-plots")
    sources = sorted((build.evaluation_dir("test") / "plots").glob("*.png")) + sorted((build.dataset_dir / "plots").glob("*.png"))
    shutil.rmtree(plots_dir, ignore_errors=True)
    if sources:
        plots_dir.mkdir(parents=True)
    plots = [Path(shutil.copyfile(p, plots_dir / p.name)) for p in sources]

    names = lambda split: ", ".join(f"`{f.name}`" for f in families_for(split))  # noqa: E731
    lines = [
        "# Reproduction at CPU scale (micro-APPS)",
        "",
        f"Generated by `bash scripts/reproduce-micro.sh{' --ci' if build.config_path.name == 'micro-ci.yaml' else ''}` from `{build.config_path.name}` (seeds "
        + ", ".join(str(b.cfg.seed) for b in builds) + "); do not edit by hand.",
        "",
        "The method of *Smaller Models, Smarter Rewards* end to end on a world small enough for two CPU",
        "cores: micro-APPS problems (both APPS kinds), a Phi-3 generator trained from scratch,",
        "forking-token rollouts (K forks x M rollouts) labelled by the sandbox, a value head initialised",
        "from the generator and trained on the train families, calibrated on the validation families,",
        "and evaluated on independent samples of held-out families.",
        "",
        HOW_TO_READ.format(phrases=", ".join(f"\"{next(iter(v))}\" → `{next(iter(v.values())) or '(nothing)'}`" for v in SLOTS.values()),
                           validation=names("validation"), test=names("test"), n_test=n_test,
                           one_problem=f"{100 / max(n_test, 1):.1f} points", samples=samples),
        "## The untouched test families",
        "",
        f"Test families {names('test')}; best-of-1 of {samples} independent samples, all problems "
        "(unsolved ones included), one build per seed:",
        "",
        *seeds_table(builds, "test"),
        "",
        "## The validation families (tuned on)",
        "",
        f"Validation families {names('validation')}, the same figures:",
        "",
        *seeds_table(builds, "validation"),
        "",
        f"## Seed {build.cfg.seed} in detail: test families",
        "",
        *detail(build, "test"),
        "",
        f"## Seed {build.cfg.seed} in detail: validation families",
        "",
        *detail(build, "validation"),
        "",
        "## The world",
        "",
        "Families: " + "; ".join(f"{split} " + ", ".join(f"`{f.name}`" for f in FAMILIES if f.split == split)
                                 for split in ("train", "validation", "test")) + ". Each in both APPS kinds.",
        "Every statement carries decisive phrases and every solution a slot for each. The generator's",
        f"corpus has each slot wrong with probability {build.cfg.wrong_rate} (`>` for `>=`, `range(1, n)` for",
        "`range(1, n + 1)`, `min` for `max`), so the generator hesitates exactly there, the forks land there,",
        "and the sandbox verdict follows the sampled token.",
        "",
        "## Reproducibility",
        "",
        "CI (`training/tests/test_micro_pipeline.py`, the editor suite) asserts what is deterministic: the",
        "pipeline's mechanics, formats and parity, not these figures. The figures above come from one build",
        "per seed; a build repeats bit for bit on one machine type, and every torch stage runs pinned to",
        "`" + " ".join(f"{k}={v}" for k, v in numeric_env(build.cfg.threads).items()) + "` on x86-64",
        "so that more cores or AVX-512 do not change the summation order (docs/EVALUATION.md says what was",
        "measured). Another CPU family (ARM) computes other bits, and then another sample of this spread.",
    ]
    if plots:
        lines += ["", "## Plots (seed " + str(build.cfg.seed) + ", test families)", ""]
        lines += [f"![{p.stem}]({plots_dir.name}/{p.name})" for p in plots]
    if generator:
        lines += ["", "## Generator", "",
                  f"{generator.get('n_parameters')} parameters, vocabulary {generator.get('vocab_size')}, "
                  f"{generator.get('steps')} steps on {generator.get('n_examples')} corpus texts, "
                  f"final loss {generator.get('final_loss', 0):.3f}."]
    if timings:
        # A stage without a time was built while the build was paused or shared the CPU with
        # other jobs; its time was dropped rather than reported as the build's.
        lines += ["", f"## Build time (seed {build.cfg.seed}, this machine, 2 shared cores)", "", "| stage | seconds |", "| --- | --- |"]
        lines += [f"| {s.name} | {timings.get(s.name, 'not measured')} |" for s in STAGES]
        lines.append(f"| sum of the measured stages | {round(sum(timings.get(s.name, 0) for s in STAGES), 1)} |")
    ok, effect = effect_summary(load_metrics(build, "validation"), build.cfg.expect)
    lines += ["", f"## The build's own check (validation families, seed {build.cfg.seed})", "",
              *[f"- {line}" for line in effect]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passlens_training.micro.report")
    parser.add_argument("--config", required=True)
    parser.add_argument("--work-dir")
    parser.add_argument("--out", required=True, help="markdown file to write (plots go beside it)")
    parser.add_argument("--other-seed", action="append", default=[], metavar="SEED=WORK_DIR",
                        help="a build of the same config with --seed SEED --work-dir WORK_DIR (repeat: >= 3 seeds in all)")
    args = parser.parse_args(argv)
    build = Build(Path(args.config), args.work_dir, progress=False)
    others = []
    for item in args.other_seed:
        seed, _, work = item.partition("=")
        others.append(Build(Path(args.config), work, progress=False, seed=int(seed)))
    missing = [str(b.evaluation_dir(s)) for b in [build, *others] for s in EVALUATED
               if not (b.evaluation_dir(s) / "metrics.json").is_file()]
    if missing:
        raise SystemExit(f"micro.report: no metrics.json in {', '.join(missing)}; build those seeds first "
                         "(python -m passlens_training.micro.build --config CONFIG --seed N --work-dir DIR)")
    out = Path(args.out)
    out.write_text(render(build, out, others))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
