"""`python -m passlens_training.micro.build --config configs/micro.yaml`: the whole paper
at CPU scale, through the same stage CLIs as the paper configs.

world (micro-APPS problems: train, validation and test families) → generator (corpus,
tokenizer, Phi-3 LM from scratch, ONNX for transformers.js) → build-dataset (trunk, K forks ×
M rollouts, and N independent samples of each validation and test problem; sandbox labels) →
train (value head initialised from the generator, on the train families) → score
(validation and test) → calibrate (Platt scaling on validation) → evaluate → export (critic
bundle, calibrated) → report.

The build prints, and --check bars, the validation figures only: the test families are read
by the report alone (docs/reproduction.md, "How to read this").

Every torch stage runs with a pinned numeric environment (`NUMERIC_ENV`: thread counts and,
on x86-64, the AVX2 kernels of ATen, MKL and oneDNN), so a machine with more cores or AVX-512
computes what a 2-core AVX2 machine does rather than a different summation order.

Every stage's output folder holds a stamp: the hash of the config sections it reads, its
code (the modules it imports, transitively, plus the judge and the contracts:
source_digest.py) and the stamps of the stages it depends on. A stage whose stamp matches is skipped,
so a rerun after a kill resumes at the first unfinished stage, and changing one section
rebuilds that stage and what follows only. The other stages' CLIs read this same YAML:
`${work}` in any string is replaced by the work folder before they see it.
"""

import argparse
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from ..config import REPO_ROOT, from_dict, read_config
from ..evaluate.calibrate import CALIBRATION_NAME, NOT_CALIBRATED_EXIT
from ..evaluate.metrics import beats_likelihood
from ..source_digest import source_digest
from ..stages import digest, substitute
from .generator import GeneratorConfig
from .problems import SPLITS

EVALUATED = ("validation", "test")  # the splits scored and evaluated (train is the critic's)


@dataclass
class EffectBar:
    """The effect the build must show on the validation families (checked with --check):
    best-of-1 over random and AUROC, and the critic's best-of-1 above both likelihood
    rankers with the paired 95 % interval of each difference above 0."""

    min_best_of_1_relative: float = 0.20
    min_auroc: float = 0.75
    beat_likelihood: bool = True


@dataclass
class MicroConfig:
    work_dir: str = ".cache/micro"
    seed: int = 0
    train_problems_per_template: int = 4
    validation_problems_per_template: int = 4
    test_problems_per_template: int = 4
    n_tests: int = 6
    corpus_problems_per_template: int = 40
    corpus_samples_per_problem: int = 2
    wrong_rate: float = 0.3
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    export_generator_onnx: bool = True
    critic_bundle_dtype: str = "fp32"
    threads: int = 2  # torch threads of every stage, whatever the machine (NUMERIC_ENV)
    expect: EffectBar = field(default_factory=EffectBar)


def numeric_env(threads: int) -> dict[str, str]:
    """The environment every torch stage of the build runs in. Thread counts fix the
    reductions' partitioning; on x86-64, AVX2 kernels (ATen's dispatch, MKL's conditional
    numerical reproducibility, oneDNN's ISA cap) keep an AVX-512 machine from summing in
    other orders (measured on this 2-core AVX2 machine: the pinned run is bit-identical to the
    default one, while ATen's generic kernels change every gradient; docs/reproduction.md)."""
    # PASSIVE: idle OpenMP threads sleep instead of spinning (changes no result; on a shared
    # machine spinning threads burn the cores the other stage processes need).
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    if platform.machine().lower() in ("x86_64", "amd64"):
        env.update({"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"})
    return env


@dataclass
class Stage:
    name: str
    sections: tuple[str, ...]
    code: tuple[str, ...]  # modules it runs (under passlens_training); their imports count too
    after: tuple[str, ...]
    run: Callable[["Build"], None]
    outputs: Callable[["Build"], list[Path]]  # removed before a rebuild with other inputs


class Build:
    def __init__(self, config_path: Path, work_override: str | None = None, progress: bool = True,
                 seed: int | None = None):
        raw = read_config(config_path)
        self.config_path = Path(config_path)
        if seed is not None:
            # One number reseeds the whole world: problems, corpus and generator, rollouts, critic.
            raw = {**raw, **{k: {**(raw.get(k) or {}), "seed": seed} for k in ("micro", "rollouts", "train")}}
        self.raw = raw
        micro = dict(raw.get("micro") or {})
        if work_override:
            micro["work_dir"] = work_override
        self.cfg: MicroConfig = from_dict(MicroConfig, micro, f"{config_path}:micro")
        work = Path(self.cfg.work_dir)
        if not work.is_absolute():  # relative to the repository root (the config's ../../..)
            work = REPO_ROOT / work
        self.work = work
        self.progress = progress
        self.resolved = substitute({k: v for k, v in raw.items() if k != "_path"}, {"work": str(work)})
        self.stamps: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # paths every stage agrees on
    @property
    def problems_file(self) -> Path:
        return self.work / "world" / "problems.jsonl"

    @property
    def generator_dir(self) -> Path:
        return self.work / "generator"

    @property
    def derived_config(self) -> Path:
        return self.work / "config.yaml"

    def section(self, name: str) -> dict:
        return dict(self.resolved.get(name) or {})

    def path(self, key: str, default: str) -> Path:
        return Path(substitute((self.resolved.get("micro_paths") or {}).get(key, default), {"work": str(self.work)}))

    @property
    def dataset_dir(self) -> Path:
        return Path(self.section("rollouts").get("output_dir") or self.work / "dataset")

    @property
    def critic_dir(self) -> Path:
        return self.path("critic", "${work}/critic")

    def scores_file(self, split: str) -> Path:
        return self.path(f"scores_{split}", f"${{work}}/scores-{split}.jsonl")

    def evaluation_dir(self, split: str) -> Path:
        return self.path("evaluation", "${work}/evaluation") / split

    @property
    def calibration_file(self) -> Path:
        # beside passlens-training.json in the checkpoint, where export looks for it
        return self.critic_dir / CALIBRATION_NAME

    @property
    def bundle_dir(self) -> Path:
        return self.path("bundle", "${work}/critic-bundle")

    def write_derived_config(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.resolved, sort_keys=False)
        if not self.derived_config.exists() or self.derived_config.read_text() != text:
            self.derived_config.write_text(text)

    def stage_cli(self, module: str, *args: str, also_ok: tuple[int, ...] = ()) -> int:
        cmd = [sys.executable, "-m", f"passlens_training.{module}", *args]
        print(f"[micro] $ {' '.join(cmd)}", flush=True)
        env = {**os.environ, **numeric_env(self.cfg.threads), "PYTHONUNBUFFERED": "1"}
        result = subprocess.run(cmd, env=env)
        if result.returncode != 0 and result.returncode not in also_ok:
            raise SystemExit(f"[micro] stage command failed ({result.returncode}): {' '.join(cmd)}")
        return result.returncode

    def run(self, stages: list[Stage], only_until: str | None = None) -> None:
        self.write_derived_config()
        for stage in stages:
            stamp = digest(
                [self.resolved.get(s) for s in stage.sections],
                asdict(self.cfg) if "micro" in stage.sections else None,
                source_digest(*(f"passlens_training.{m}" for m in stage.code)), [self.stamps[a] for a in stage.after],
            )
            stamp_file = self.work / ".stamps" / stage.name
            if stamp_file.is_file() and stamp_file.read_text() == stamp:
                print(f"[micro] {stage.name}: up to date ({stamp})", flush=True)
            else:
                print(f"[micro] {stage.name}: building ...", flush=True)
                started = time.monotonic()
                stamp_file.unlink(missing_ok=True)
                self._clear_stale_outputs(stage, stamp)
                stage.run(self)
                stamp_file.parent.mkdir(parents=True, exist_ok=True)
                stamp_file.write_text(stamp)
                seconds = round(time.monotonic() - started, 1)
                stamp_file.with_suffix(".seconds").write_text(str(seconds))
                print(f"[micro] {stage.name}: done in {seconds} s", flush=True)
            seconds_file = stamp_file.with_suffix(".seconds")
            if seconds_file.is_file():  # the time of the build that made the stage's current output
                self.timings[stage.name] = float(seconds_file.read_text())
            self.stamps[stage.name] = stamp
            if stage.name == only_until:
                break

    def _clear_stale_outputs(self, stage: Stage, stamp: str) -> None:
        """Removes what an earlier build of the stage left, unless it was an interrupted
        build with these same inputs: the dataset stage resumes from its shards, and shards
        sampled from an older generator must not be resumed from."""
        pending = self.work / ".stamps" / f"{stage.name}.pending"
        if not (pending.is_file() and pending.read_text() == stamp):
            for path in stage.outputs(self):
                if path.resolve().is_relative_to(self.work.resolve()) and path.exists():
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        pending.parent.mkdir(parents=True, exist_ok=True)
        pending.write_text(stamp)


# --- stages -----------------------------------------------------------------------

def build_world(b: Build) -> None:
    from .problems import generate_problems, write_jsonl

    problems = generate_problems(b.cfg.seed, {"train": b.cfg.train_problems_per_template,
                                              "validation": b.cfg.validation_problems_per_template,
                                              "test": b.cfg.test_problems_per_template}, n_tests=b.cfg.n_tests)
    write_jsonl(b.problems_file, problems)
    split = {name: [p["problem_id"] for p in problems if p["split"] == name] for name in SPLITS}
    (b.problems_file.parent / "split.json").write_text(json.dumps(split, indent=1))
    print(f"[micro] world: " + ", ".join(f"{len(split[n])} {n}" for n in SPLITS) + f" problems -> {b.problems_file}")


def build_generator(b: Build) -> None:
    from ..export.generator import export_generator
    from .corpus import build_corpus
    from .generator import train_generator
    from .problems import generate_problems

    # The corpus is drawn from its own seed: none of its problems is a dataset problem. It
    # has every family, held-out ones included: the generator is the pretrained model that
    # can write such code; the critic never sees a held-out family's rollouts.
    corpus_problems = generate_problems(b.cfg.seed + 1_000_003, b.cfg.corpus_problems_per_template,
                                        n_tests=b.cfg.n_tests, prefix="corpus")
    examples = build_corpus(corpus_problems, samples_per_problem=b.cfg.corpus_samples_per_problem,
                            wrong_rate=b.cfg.wrong_rate, seed=b.cfg.seed)
    summary = train_generator(examples, b.generator_dir, b.cfg.generator, progress=b.progress)
    if b.cfg.export_generator_onnx:
        # transformers.js layout in the generator folder itself: onnx/model.onnx (fp32), onnx/model_quantized.onnx (q8).
        export_generator(b.generator_dir, b.generator_dir, "dynamo", ["fp32", "q8"])
    (b.generator_dir / "passlens-micro-generator.json").write_text(json.dumps(summary, indent=1))
    print(f"[micro] generator: {summary}")


def build_dataset(b: Build) -> None:
    b.stage_cli("rollouts", "--config", str(b.derived_config))


def train_critic(b: Build) -> None:
    b.stage_cli("train", "--config", str(b.derived_config))


def score_critic(b: Build) -> None:
    for split in EVALUATED:
        b.stage_cli("evaluate.score", "--checkpoint", str(b.critic_dir), "--data", str(b.dataset_dir / "shards"),
                    "--split", split, "--out", str(b.scores_file(split)),
                    # the critic is scored on contexts cut as in its training (left-truncated prompt)
                    "--max-length", str(b.section("train").get("max_length", 4096)))


def calibrate_critic(b: Build) -> None:
    status = b.stage_cli("evaluate.calibrate", "--scores", str(b.scores_file("validation")), "--out", str(b.calibration_file),
                         also_ok=(NOT_CALIBRATED_EXIT,))
    if status == NOT_CALIBRATED_EXIT:
        # A critic no order-preserving calibration fits is a result to report, not a broken build.
        print("[micro] calibrate: not calibrated; evaluation and the bundle use raw values", flush=True)


def evaluate_critic(b: Build) -> None:
    for split in EVALUATED:
        # The test families' figures are printed in the report only, not in build logs.
        calibration = ["--calibration", str(b.calibration_file)] if b.calibration_file.is_file() else []
        b.stage_cli("evaluate", "--scores", str(b.scores_file(split)), "--out", str(b.evaluation_dir(split)),
                    *calibration, *(["--quiet"] if split == "test" else []))


def export_bundle(b: Build) -> None:
    b.stage_cli("export", "--checkpoint", str(b.critic_dir),
                "--out", str(b.bundle_dir), "--dtype", b.cfg.critic_bundle_dtype)


STAGES = [
    Stage("world", ("micro",), ("micro.problems",), (), build_world, lambda b: [b.problems_file.parent]),
    Stage("generator", ("micro",), ("micro.corpus", "micro.generator", "micro.problems", "export.generator"), ("world",),
          build_generator, lambda b: [b.generator_dir]),
    Stage("dataset", ("data", "rollouts"), ("rollouts",), ("world", "generator"), build_dataset, lambda b: [b.dataset_dir]),
    Stage("train", ("train",), ("train",), ("dataset",), train_critic, lambda b: [b.critic_dir]),
    Stage("score", ("evaluate",), ("evaluate.score",), ("train",), score_critic,
          lambda b: [b.scores_file(s) for s in EVALUATED]),
    Stage("calibrate", ("evaluate",), ("evaluate.calibrate",), ("score",), calibrate_critic, lambda b: [b.calibration_file]),
    Stage("evaluate", ("evaluate",), ("evaluate",), ("score", "calibrate"), evaluate_critic,
          lambda b: [b.evaluation_dir(s) for s in EVALUATED]),
    Stage("export", ("micro",), ("export",), ("train", "calibrate"), export_bundle, lambda b: [b.bundle_dir]),
]


def effect_summary(metrics: dict, bar: EffectBar) -> tuple[bool, list[str]]:
    """Reads the effect off one split's metrics.json; returns (bar met, lines to print)."""
    base = metrics["baseline_pass_at_k"]["1"]
    best = metrics["best_of_k"]["1"]
    rel = metrics["relative_improvement"]["1"]
    aurocs = {k: metrics[k]["auroc"] for k in ("imbalanced", "balanced")}
    rankers = metrics["selection"]["subsets"]["all"]["rankers"]
    diffs = metrics["selection"]["subsets"]["all"]["differences"]
    beats = beats_likelihood(metrics["selection"])
    ok = (rel is not None and rel >= bar.min_best_of_1_relative
          and all(a is not None and a >= bar.min_auroc for a in aurocs.values())
          and (beats is True or not bar.beat_likelihood))
    rel_text = "n/a (no pass)" if rel is None else f"{rel:+.1%} relative"
    lines = [f"random pass@1 {base:.3f} -> critic best-of-1 {best:.3f} ({rel_text}; bar {bar.min_best_of_1_relative:+.0%})"]
    for name in ("likelihood_mean", "likelihood_total"):
        if rankers.get(name) and diffs.get(f"critic_final - {name}"):
            d = diffs[f"critic_final - {name}"]["best_of_k"]["1"]
            lines.append(f"{name} best-of-1 {rankers[name]['best_of_k']['1']['value']:.3f}; critic minus it "
                         f"{d['value']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]")
    lines += [f"critic beats likelihood ranking (95 % intervals above 0): {'n/a' if beats is None else 'yes' if beats else 'no'}"
              + ("" if bar.beat_likelihood else " (not barred)"),
              f"AUROC imbalanced {_fmt(aurocs['imbalanced'])}, balanced {_fmt(aurocs['balanced'])} (bar {bar.min_auroc:.2f})",
              f"effect bar: {'MET' if ok else 'NOT MET'}"]
    return ok, lines


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passlens-train micro", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML with micro, data, rollouts, train, evaluate sections")
    parser.add_argument("--work-dir", help="override micro.work_dir")
    parser.add_argument("--seed", type=int, help="override the seed of micro, rollouts and train (a second world)")
    parser.add_argument("--until", choices=[s.name for s in STAGES], help="stop after this stage")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the effect bar (micro.expect) is met")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    build = Build(Path(args.config), args.work_dir, progress=not args.no_progress, seed=args.seed)
    # Before torch loads (the generator stage runs in this process; the others inherit it).
    os.environ.update(numeric_env(build.cfg.threads))
    started = time.monotonic()
    build.work.mkdir(parents=True, exist_ok=True)
    # Two builds of one work folder (the editor tests' fixture and a demo, say) would
    # overwrite each other's stages: the second waits, then finds them up to date.
    with open(build.work / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[micro] waiting for another build of {build.work} ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        build.run(STAGES, args.until)
    total = round(time.monotonic() - started, 1)
    timings = {**build.timings, "total": round(sum(build.timings.values()), 1), "this_run": total}
    (build.work / "timings.json").write_text(json.dumps(timings, indent=1))
    print(f"[micro] finished in {total} s; work folder {build.work}")
    if args.until and args.until != STAGES[-1].name and args.until != "evaluate":
        return 0
    # Validation only: the test families' figures are the report's (docs/reproduction.md).
    metrics_file = build.evaluation_dir("validation") / "metrics.json"
    ok, lines = effect_summary(json.loads(metrics_file.read_text()), build.cfg.expect)
    for line in lines:
        print(f"[micro] validation: {line}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
