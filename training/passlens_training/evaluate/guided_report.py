"""Guided search against best-of-n on the micro world's held-out problems, replayed offline
(guided_simulation.py): the default policy is chosen on the validation families, then that one
policy is run once on the untouched test families. Writes results.json and a pass@1-vs-tokens
plot into --figures and the measured section of --doc (between its guided-report markers).

    bash scripts/guided-report.sh   # python -m passlens_training.evaluate.guided_report --micro-dir .cache/micro/ci

Intervals are paired bootstraps over problems (intervals.py): every figure of a split is
resampled with the same draws of problems.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..records import read_split  # noqa: E402
from . import guided_simulation as gs  # noqa: E402
from .intervals import BOOTSTRAP_SAMPLES, bootstrap_indices, interval, ratio_interval  # noqa: E402

START, END = "<!-- guided-report:start -->", "<!-- guided-report:end -->"
PLOT = "pass-at-1-vs-tokens.png"
CURVE_WIDTHS = (2, 3, 4, 6, 8, 12, 16)
# Sized for the micro answers (independent samples: 33-108 tokens, 68 on average).
GRID = {"interval": (8, 16, 32, 64), "prune_fraction": (0.25, 0.5), "warmup_tokens": (0, 16, 32), "window": 32}


def report_grid(width: int) -> list[gs.Policy]:
    """The knobs tried on validation: interval, prune fraction, warm-up, re-branch (window 32).
    The threshold stays off: the scores replayed are the critic's raw values, and a threshold
    chosen on them would not carry over to a calibrated critic."""
    grid = itertools.product(GRID["interval"], GRID["prune_fraction"], GRID["warmup_tokens"], (False, True))
    return [gs.Policy(width, t, q, 0.0, warm, rebranch, GRID["window"] if rebranch else 1) for t, q, warm, rebranch in grid]


def _array(per_problem: Mapping[str, float], problems: Sequence[str]) -> np.ndarray:
    return np.array([per_problem[p] for p in problems], dtype=float)


def paired(guided: gs.Result, best_of: Sequence[gs.Result], same_width: gs.Result, resamples: np.ndarray) -> dict[str, Any]:
    """Guided against best-of-n at its mean tokens and against best-of-n at its width, per problem, paired."""
    problems = sorted(guided.per_problem)
    at_equal, mix = gs.best_of_n_at(best_of, guided.tokens)
    g = _array(guided.per_problem, problems)
    return {
        "guided": {"label": guided.label, "pass_at_1": interval(g, resamples),
                   "tokens": interval(_array(guided.per_problem_tokens, problems), resamples), "steps": guided.steps,
                   "rebranches": guided.rebranches},
        "equal_tokens": {"best_of_n": mix, "pass_at_1": interval(_array(at_equal, problems), resamples),
                         "difference": interval(g - _array(at_equal, problems), resamples)},
        "same_width": {"best_of_n": same_width.label,
                       "pass_at_1": interval(_array(same_width.per_problem, problems), resamples),
                       "tokens": interval(_array(same_width.per_problem_tokens, problems), resamples),
                       "steps": same_width.steps,
                       "difference": interval(g - _array(same_width.per_problem, problems), resamples),
                       "token_ratio": ratio_interval(_array(guided.per_problem_tokens, problems),
                                                     _array(same_width.per_problem_tokens, problems), resamples)},
    }


def evaluate_split(pools: Mapping[str, gs.Pool], max_new: int, width: int, policies: Sequence[gs.Policy],
                   draws: int, seed: int) -> dict[str, Any]:
    """Best-of-n for every n the problems have roots for, and each policy at `width` and along CURVE_WIDTHS."""
    roots = min(len(p.roots) for p in pools.values())
    if roots < width:
        raise ValueError(f"a problem has {roots} rollouts sampled from the prompt, fewer than width {width}")
    best_of = [gs.run(pools, gs.Policy.best_of_n(n), max_new, draws, seed) for n in range(1, roots + 1)]
    guided = [gs.run(pools, p, max_new, draws, seed) for p in policies]
    return {"best_of": best_of, "guided": guided, "roots": roots, "problems": len(pools)}


def curve(pools: Mapping[str, gs.Pool], max_new: int, policy: gs.Policy, roots: int, draws: int, seed: int) -> list[gs.Result]:
    return [gs.run(pools, dataclasses.replace(policy, width=w), max_new, draws, seed) for w in CURVE_WIDTHS if w <= roots]


def build(micro_dir: Path, width: int, draws: int, seed: int, grid: Sequence[gs.Policy] | None = None) -> dict[str, Any]:
    split = read_split(micro_dir / "world" / "split.json")
    data = micro_dir / "dataset" / "shards"
    found: dict[str, Any] = {"width": width, "draws": draws, "seed": seed, "bootstrap_samples": BOOTSTRAP_SAMPLES}
    splits: dict[str, Any] = {}
    for name in ("validation", "test"):
        if not (micro_dir / f"scores-{name}.jsonl").exists():
            raise ValueError(f"{micro_dir / f'scores-{name}.jsonl'} is missing: build the micro models first "
                             "(bash scripts/build-micro.sh --ci)")
    for name in ("validation", "test"):
        pools, max_new = gs.load_pools([data], micro_dir / f"scores-{name}.jsonl", split[name])
        if name == "validation":
            measured = evaluate_split(pools, max_new, width, grid or report_grid(width), draws, seed)
            chosen = gs.choose(measured["guided"], measured["best_of"])
            match = gs.tokens_to_match(measured["guided"], measured["best_of"][width - 1].pass_at_1)
            found["chosen"] = dataclasses.asdict(chosen.policy)
            found["grid"] = [{"label": r.label, "pass_at_1": r.pass_at_1, "tokens": r.tokens,
                              "advantage": gs.advantage(r, measured["best_of"])} for r in measured["guided"]]
            found["match_on_validation"] = (f"{match.label}, {match.tokens:.0f} tokens to best-of-{width}'s "
                                            f"{measured['best_of'][width - 1].tokens:.0f}") if match else None
            found["grid_rebranches"] = {k: sum(r.rebranches[k] for r in measured["guided"]) for k in ("wanted", "exact", "moved", "missing")}
        else:
            # The test families see the chosen policy once, nothing else.
            measured = evaluate_split(pools, max_new, width, [chosen.policy], draws, seed)
        result = measured["guided"][0] if name == "test" else chosen
        resamples = bootstrap_indices(measured["problems"], BOOTSTRAP_SAMPLES, seed)
        splits[name] = {
            "problems": measured["problems"], "roots": measured["roots"], "max_new_tokens": max_new,
            "best_of_n": [{"n": r.policy.width, "pass_at_1": r.pass_at_1, "tokens": r.tokens, "steps": r.steps} for r in measured["best_of"]],
            "chosen": paired(result, measured["best_of"], measured["best_of"][width - 1], resamples),
            "curve": [{"width": r.policy.width, "pass_at_1": r.pass_at_1, "tokens": r.tokens, "steps": r.steps}
                      for r in curve(pools, max_new, chosen.policy, measured["roots"], draws, seed)],
        }
    found["splits"] = splits
    return found


def plot(found: Mapping[str, Any], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, name in zip(axes, ("validation", "test")):
        s = found["splits"][name]
        if name == "validation":
            ax.scatter([g["tokens"] for g in found["grid"]], [g["pass_at_1"] for g in found["grid"]], s=10, color="0.75",
                       label="guided, other policies tried")
        bon = s["best_of_n"]
        ax.plot([b["tokens"] for b in bon], [b["pass_at_1"] for b in bon], "o-", color="tab:blue", ms=3, label="best-of-n, n = 1…")
        for b in bon:
            if b["n"] in (1, found["width"], bon[-1]["n"]):
                ax.annotate(f"n={b['n']}", (b["tokens"], b["pass_at_1"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
        c = s["curve"]
        ax.plot([g["tokens"] for g in c], [g["pass_at_1"] for g in c], "s-", color="tab:orange", ms=4,
                label="guided (chosen policy), width = " + ", ".join(str(g["width"]) for g in c))
        ax.set(title=f"{name}: {s['problems']} problems", xlabel="generated tokens per problem (mean)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("pass@1 of the chosen candidate")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Guided search vs best-of-n, replayed on the micro models' scored rollouts", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _ci(figure: Mapping[str, Any], percent: bool = True, signed: bool = False) -> str:
    lo, hi = figure["ci"]
    fmt = (lambda v: f"{v * 100:+.1f}" if signed else f"{v * 100:.1f}") if percent else (lambda v: f"{v:.0f}" if not signed else f"{v:.2f}")
    unit = " pp" if percent and signed else " %" if percent else ""
    return f"{fmt(figure['value'])}{unit} [{fmt(lo)}, {fmt(hi)}]"


def _verdict(difference: Mapping[str, Any]) -> str:
    lo, hi = difference["ci"]
    said = f"{difference['value'] * 100:+.1f} pp [{lo * 100:+.1f}, {hi * 100:+.1f}]"
    if lo > 0:
        return f"guided beats best-of-n ({said}, the interval above 0)"
    if hi < 0:
        return f"guided is worse than best-of-n ({said}, the interval below 0)"
    return f"guided does not beat best-of-n ({said}: the interval contains 0)"


def markdown(found: Mapping[str, Any], figures_rel: str) -> str:
    w = found["width"]
    policy = gs.Policy(**found["chosen"])
    lines = [START, "", "## Measured (micro models, offline replay)", "",
             f"Regenerated by `bash scripts/guided-report.sh` (figures and every number below: "
             f"`{figures_rel}/results.json`). Width {w} (`passlens.generator.candidates` defaults to 6), {found['draws']} draws of "
             f"the roots per problem, seed {found['seed']}; intervals are paired bootstraps over problems "
             f"({found['bootstrap_samples']} resamples, 95 %).", "",
             f"**Chosen on the validation families:** {policy.label()} — the policy of the grid "
             f"({len(found['grid'])} policies: interval {'/'.join(map(str, GRID['interval']))}, prune fraction "
             f"{'/'.join(map(str, GRID['prune_fraction']))}, warm-up {'/'.join(map(str, GRID['warmup_tokens']))}, "
             f"re-branch off/on with window {GRID['window']}, threshold off) whose pass@1 is highest above best-of-n's at equal "
             "generated tokens. `DEFAULT_GUIDED` in `src/core/generateAndRank/search.ts` is this policy. "
             f"Cheapest policy matching best-of-{w}'s validation pass@1: {found['match_on_validation'] or 'none'}.", "",
             f"![pass@1 vs generated tokens]({figures_rel}/{PLOT})", "",
             "| split | strategy | pass@1 | tokens / problem | lockstep steps |", "| --- | --- | --- | --- | --- |"]
    for name in ("validation", "test"):
        c = found["splits"][name]["chosen"]
        lines.append(f"| {name} | guided, width {w} | {_ci(c['guided']['pass_at_1'])} | {_ci(c['guided']['tokens'], False)} "
                     f"| {c['guided']['steps']:.0f} |")
        lines.append(f"| {name} | {c['same_width']['best_of_n']} | {_ci(c['same_width']['pass_at_1'])} "
                     f"| {_ci(c['same_width']['tokens'], False)} | {c['same_width']['steps']:.0f} |")
        lines.append(f"| {name} | best-of-n at guided's tokens ({c['equal_tokens']['best_of_n']}) "
                     f"| {_ci(c['equal_tokens']['pass_at_1'])} | same | |")
    lines += ["", "| split | guided − best-of-n at equal tokens | guided − best-of-" + str(w)
              + f" | guided's tokens / best-of-{w}'s | re-branches (wanted / exact / moved / missing) |",
              "| --- | --- | --- | --- | --- |"]
    for name in ("validation", "test"):
        c = found["splits"][name]["chosen"]
        r = c["guided"]["rebranches"]
        lines.append(f"| {name} ({found['splits'][name]['problems']} problems) | {_ci(c['equal_tokens']['difference'], signed=True)} "
                     f"| {_ci(c['same_width']['difference'], signed=True)} | {_ci(c['same_width']['token_ratio'], False, signed=True)} "
                     f"| {r['wanted']} / {r['exact']} / {r['moved']} / {r['missing']} |")
    test = found["splits"]["test"]["chosen"]
    rb = found["grid_rebranches"]
    lines += ["", f"**On the test families, at equal tokens: {_verdict(test['equal_tokens']['difference'])}; "
              f"against best-of-{w} (same width): {_verdict(test['same_width']['difference'])}, with "
              f"{test['same_width']['token_ratio']['value']:.2f}× its tokens and {test['guided']['steps']:.0f} lockstep "
              f"steps to its {test['same_width']['steps']:.0f} (re-branches start late, so a guided search ends later).**", "",
              "What could flatter (or hide) these figures:", "",
              "- **Replay, not generation.** Streams are recorded rollouts; a re-branch exists only where the data has "
              "a rollout sampled from that exact prefix (forks of the trunk), and the roots are independent samples: "
              f"over the grid's re-branching policies on validation, {rb['exact'] + rb['moved']} of {rb['wanted']} "
              f"re-branches found a recorded continuation ({rb['moved']} of them at another position of the window), "
              f"{rb['missing']} left their slot empty. Re-branching is measured only that far; pruning is measured fully. "
              "Tokens are counted, not timed; lockstep steps stand for wall-clock only when streams run in parallel "
              "(a server), not in the local worker, which takes turns.",
              "- **Micro scale.** A 4-layer generator, 160-token answers, a critic trained on the same micro world's "
              "train families: the knobs are in tokens and were chosen for answers of ~100 tokens, not the "
              "1024-token answers of a real model.",
              "- **Few problems.** "
              f"{found['splits']['validation']['problems']} validation and {found['splits']['test']['problems']} test "
              "problems; the grid search picks the luckiest of "
              f"{len(found['grid'])} policies on validation, so the validation figures are optimistic; the test "
              "figures are not (one policy, run once).", "", END]
    return "\n".join(lines) + "\n"


def write_doc(doc: Path, section: str) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END) + "\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m passlens_training.evaluate.guided_report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micro-dir", type=Path, default=Path(".cache/micro/ci"),
                    help="a built micro world: world/split.json, dataset/shards, scores-validation.jsonl, scores-test.jsonl")
    ap.add_argument("--width", type=int, default=6)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figures", type=Path, default=Path("docs/guided"))
    ap.add_argument("--doc", type=Path, default=Path("docs/guided-generation.md"))
    args = ap.parse_args(argv)
    try:
        found = build(args.micro_dir, args.width, args.draws, args.seed)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"guided_report: {exc}") from exc
    args.figures.mkdir(parents=True, exist_ok=True)
    (args.figures / "results.json").write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    plot(found, args.figures / PLOT)
    write_doc(args.doc, markdown(found, Path(os.path.relpath(args.figures.resolve(), args.doc.resolve().parent)).as_posix()))
    for name in ("validation", "test"):
        c = found["splits"][name]["chosen"]
        print(f"{name}: guided {_ci(c['guided']['pass_at_1'])} at {c['guided']['tokens']['value']:.0f} tokens; "
              f"best-of-{args.width} {_ci(c['same_width']['pass_at_1'])} at {c['same_width']['tokens']['value']:.0f}; "
              f"difference at equal tokens {_ci(c['equal_tokens']['difference'], signed=True)}")
    print(f"chosen on validation: {gs.Policy(**found['chosen']).label()}")


if __name__ == "__main__":
    main()
