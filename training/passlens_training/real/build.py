"""`python -m passlens_training.real.build --config configs/real-cpu.yaml`: the paper's method
on a real pretrained code model and real problems, on a CPU, through the same stage CLIs as
the paper configs.

model (a pinned GGUF -> Hugging Face folder, data/pretrained.py) -> build-dataset (HumanEval,
split train/validation/test by problem; trunk, K forks x M samples; labels from the judge's
check programs) -> train (value head initialised from the same model: the last layers and the
head, on hidden states the frozen layers compute once, train/hidden_cache.py) -> score (the
evaluated splits) -> evaluate -> export (critic bundle).

A kill at any stage loses at most the stage's unfinished step: stages are stamped and skipped
when up to date (stages.py), the dataset resumes per problem, the hidden states per batch,
training from its last checkpoint. Each stage shows its progress and ETA. In the config,
`${work}` is real.work_dir and `${model}` the model's Hugging Face folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import REPO_ROOT, from_dict, read_config
from ..data.pretrained import hf_folder_path
from ..stages import Runner, Stage, exclusive, substitute

LABEL = "real"


@dataclass
class RealConfig:
    work_dir: str = ".cache/real/run"  # relative: to the repository root
    model: str = "smollm2-135m-instruct"  # an asset of data/pretrained.py
    threads: int = 2  # torch threads of every stage
    evaluated_splits: list[str] = field(default_factory=lambda: ["test"])  # scored and evaluated
    critic_bundle_dtype: str = "fp32"


class RealRun:
    def __init__(self, config_path: Path, work_override: str | None = None):
        raw = read_config(config_path)
        section = dict(raw.get("real") or {})
        if work_override:
            section["work_dir"] = work_override
        self.cfg: RealConfig = from_dict(RealConfig, section, f"{config_path}:real")
        work = Path(self.cfg.work_dir)
        self.work = work if work.is_absolute() else REPO_ROOT / work
        names = {"work": str(self.work), "model": str(hf_folder_path(self.cfg.model))}
        resolved = substitute({k: v for k, v in raw.items() if k != "_path"}, names)
        self.runner = Runner(LABEL, self.work, resolved, threads=self.cfg.threads)

    @property
    def dataset_dir(self) -> Path:
        return Path(self.runner.section("rollouts")["output_dir"])

    @property
    def critic_dir(self) -> Path:
        return Path(self.runner.section("train")["output_dir"])

    def scores_file(self, split: str) -> Path:
        return self.work / f"scores-{split}.jsonl"

    @property
    def evaluation_dir(self) -> Path:
        return self.work / "evaluation"

    @property
    def bundle_dir(self) -> Path:
        return self.work / "critic-bundle"


def make_stages(run: RealRun) -> list[Stage]:
    def model(r: Runner) -> None:
        r.stage_cli("data.pretrained", "hf-folder", run.cfg.model)

    def dataset(r: Runner) -> None:
        r.stage_cli("rollouts", "--config", str(r.config_file))

    def train(r: Runner) -> None:
        resume = ["--resume"] if list((run.critic_dir / "checkpoints").glob("step-*")) else []
        r.stage_cli("train", "--config", str(r.config_file), *resume)

    def score(r: Runner) -> None:
        for split in run.cfg.evaluated_splits:
            # scored on contexts cut as in training (the prompt loses tokens from its left)
            r.stage_cli("evaluate.score", "--checkpoint", str(run.critic_dir), "--data", str(run.dataset_dir),
                        "--split", split, "--out", str(run.scores_file(split)),
                        "--max-length", str(r.section("train").get("max_length", 4096)))

    def evaluate(r: Runner) -> None:
        named = [f"{split}={run.scores_file(split)}" for split in run.cfg.evaluated_splits]
        r.stage_cli("evaluate", *[a for n in named for a in ("--scores", n)], "--out", str(run.evaluation_dir),
                    "--data", str(run.dataset_dir))

    def export(r: Runner) -> None:
        r.stage_cli("export", "--checkpoint", str(run.critic_dir), "--out", str(run.bundle_dir),
                    "--dtype", run.cfg.critic_bundle_dtype)

    return [
        Stage("model", ("real.model",), ("data.pretrained",), (), model, lambda r: []),
        Stage("dataset", ("data", "rollouts"), ("rollouts",), ("model",), dataset, lambda r: [run.dataset_dir]),
        Stage("train", ("train",), ("train",), ("dataset",), train, lambda r: [run.critic_dir]),
        Stage("score", ("real.evaluated_splits", "train.max_length"), ("evaluate.score",), ("train",), score,
              lambda r: [run.scores_file(s) for s in run.cfg.evaluated_splits]),
        Stage("evaluate", ("real.evaluated_splits", "evaluate"), ("evaluate",), ("score",), evaluate,
              lambda r: [run.evaluation_dir]),
        Stage("export", ("real.critic_bundle_dtype",), ("export",), ("train",), export, lambda r: [run.bundle_dir]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passlens-train real", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML with real, data, rollouts, train, evaluate sections")
    parser.add_argument("--work-dir", help="override real.work_dir")
    parser.add_argument("--until", help="stop after this stage")
    args = parser.parse_args(argv)
    run = RealRun(Path(args.config), args.work_dir)
    stages = make_stages(run)
    if args.until and args.until not in [s.name for s in stages]:
        parser.error(f"--until: choose one of {', '.join(s.name for s in stages)}")
    started = time.monotonic()
    with exclusive(run.work, LABEL):
        run.runner.run(stages, args.until)
    timings = {**run.runner.timings, "total": round(sum(run.runner.timings.values()), 1),
               "this_run": round(time.monotonic() - started, 1)}
    (run.work / "timings.json").write_text(json.dumps(timings, indent=1))
    run.runner.say(f"finished in {timings['this_run']} s (stages' own times: {timings['total']} s); work folder {run.work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
