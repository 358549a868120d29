"""`build-dataset` stage: APPS problems → labelled forking rollouts (JSONL shards) + stats.

    python -m passlens_training.rollouts --config configs/tiny-cpu.yaml [--limit N] [--engine local|ray]

Output dir: `split.json`, `run.json` (the settings of the run and the judge's isolation mode),
`shards/rollouts-SPLIT-NNNNN.jsonl` (kept problems), `shards/excluded-SPLIT-NNNNN.jsonl` (problems
with no passing rollout, when excluded), `progress.jsonl` (one line per finished problem), `throughput.json` (rates per
worker and session: throughput.py), `balanced-train.jsonl`, `stats.json`, `plots/*.png`.

Engines (`rollouts.engine`): `local` runs the backend and the judge in this process; `ray`
shards the problems over generation workers on a Ray cluster, judging in a separate CPU pool
(distributed.py). Either way this process alone writes the output, problem by problem.

Resumable: a problem's rollouts are appended to its shard, then the problem is marked done in
progress.jsonl (both flushed and fsynced). On restart, lines of problems not marked done (a
kill between the two writes, or a torn last line: records.py) are dropped, so nothing is lost
or doubled. A run may be resumed on the other engine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import REPO_PLACEHOLDER, load_section, read_config, resolve_path
from ..contracts import load_templates
from ..data.apps import LoadReport, load_or_make_split, load_problems
from ..data.prompts import build_prompt
from ..records import (append_jsonl, read_dataset_shards, read_jsonl, shard_name, write_jsonl, write_split,
                       write_throughput_session)
from .balance import balance
from .forking import ForkingConfig, generate_independent, generate_rollouts
from .generation import SamplingConfig, make_backend
from .judging import Judge, WeakIsolationRefused, is_weak_isolation
from .throughput import MeteredBackend, MeteredJudge, WorkCounts, WorkerReport, session_summary

if TYPE_CHECKING:
    from .distributed import RayConfig


TINY_PREFIX = "tiny-random:"


@dataclasses.dataclass
class DataConfig:
    source: str = f"{REPO_PLACEHOLDER}/../shared/apps-sample/problems.jsonl"  # .jsonl, APPS folder, hub:codeparrot/apps or humaneval
    test_fraction: float = 465 / 4449  # the paper's 3,984 / 465 split of APPS train
    validation_fraction: float = 0.0  # > 0: a validation split too (tuning), so test stays untouched
    split_seed: int = 0
    split_file: str = ""  # default: OUTPUT_DIR/split.json
    use_apps_test_split: bool = False  # test = APPS test split instead of held-out APPS train
    splits: list[str] = dataclasses.field(default_factory=lambda: ["train", "test"])
    limit: int = 0  # problems per split, 0 = all


@dataclasses.dataclass
class RolloutsConfig:
    output_dir: str = "runs/dataset"
    engine: str = "local"  # local | ray (settings: the config's `ray` section, distributed.RayConfig)
    backend: str = "hf"  # hf | vllm | openai
    generator: str = ""  # model path / hub id (served model name for openai)
    revision: str | None = None
    device: str = "cpu"
    dtype: str = "auto"
    torch_threads: int = 0  # hf on CPU: torch threads (0 = torch's default); its last bits depend on it
    server_url: str = ""
    vllm: dict[str, Any] = dataclasses.field(default_factory=dict)  # extra vllm.LLM(...) arguments
    prompt_templates: str = ""  # default: contracts/prompt_templates.json
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    num_forks: int = 6
    samples_per_fork: int = 6
    min_fork_distance: int = 0
    trunk_policy: str = "any"
    trunk_retries: int = 3
    seed: int = 0
    judge_path: str = ""  # default: <repo>/python-sandbox/judge.py
    judge_workers: int = 2
    judge_timeout_s: float = 4.0
    judge_memory_mb: int = 1024
    judge_isolation: str = "auto"  # auto = the strongest the machine has (bwrap, firejail, sandbox-exec) or a refusal
    allow_weak_isolation: bool = False  # label with the judge's escapable weak mode where nothing strong exists
    exclude_no_pass: bool = True  # training problems without a passing rollout go to excluded shards; evaluation splits keep every problem
    # Independent samples of each problem of these splits, besides the trunk and forks: the
    # candidates a picker gets, on which evaluate measures pass@k and best-of-k.
    independent_samples: int = 16
    independent_splits: list[str] = dataclasses.field(default_factory=lambda: ["test"])
    problems_per_shard: int = 100
    problems_per_batch: int = 1  # problems whose trunks (then forks) go to the backend together; vllm: 32+
    balance_seed: int = 0


def _recover(out: Path) -> set[str]:
    """Done problem ids; shards and progress rewritten without anything of unfinished problems."""
    progress = out / "progress.jsonl"
    done_rows = read_jsonl(progress) if progress.is_file() else []
    done = {r["problem_id"] for r in done_rows}
    if progress.is_file():
        write_jsonl(progress, done_rows)
    for shard in sorted((out / "shards").glob("*.jsonl")):
        rows = read_jsonl(shard)
        keep = [r for r in rows if r["problem_id"] in done]
        if len(keep) != len(rows) or not shard.read_text(encoding="utf-8").endswith("\n"):
            write_jsonl(shard, keep)
    return done


def _check_same_run(out: Path, run: dict[str, Any]) -> None:
    run_file = out / "run.json"
    if run_file.is_file():
        # run.json also records the judge's isolation (_record_isolation), checked on its own.
        previous = {k: v for k, v in json.loads(run_file.read_text()).items() if k in ("data", "rollouts")}
        if previous != run:
            changed = sorted(k for k in set(previous) | set(run) if previous.get(k) != run.get(k))
            raise SystemExit(f"{out} holds a run with different settings ({changed}); "
                             "resume with the same config or choose another rollouts.output_dir")
    else:
        run_file.write_text(json.dumps(run, indent=1))


def build(data: DataConfig, cfg: RolloutsConfig, *, progress_bar: bool = True,
          ray_cfg: RayConfig | None = None) -> dict[str, Any]:
    """`ray_cfg`: the `ray` section, for engine `ray` (its defaults when None)."""
    if cfg.engine not in ("local", "ray"):
        raise SystemExit(f"rollouts.engine must be 'local' or 'ray', got {cfg.engine!r}")
    if "train" in cfg.independent_splits:
        raise SystemExit("rollouts.independent_splits names 'train': training reads trunks and forks only; "
                         "draw independent samples for the evaluation splits (e.g. [validation, test])")
    out = Path(resolve_path(cfg.output_dir))
    (out / "shards").mkdir(parents=True, exist_ok=True)
    # Settings that change no rollout may differ on resume (torch_threads: only in the last bits of CPU floats).
    # (The isolation actually used is checked on its own: _record_isolation.)
    result_settings = {k: v for k, v in dataclasses.asdict(cfg).items()
                       if k not in ("engine", "judge_workers", "problems_per_batch", "torch_threads",
                                    "judge_isolation", "allow_weak_isolation")}
    _check_same_run(out, {"data": dataclasses.asdict(data), "rollouts": result_settings})

    report = LoadReport()
    source = resolve_path(data.source)
    apps_train = load_problems(source, split="train", report=report)
    by_id = {p.problem_id: p for p in apps_train}
    if data.use_apps_test_split:
        apps_test = load_problems(source, split="test", report=report)
        by_id.update({p.problem_id: p for p in apps_test})
        split = {"train": sorted(p.problem_id for p in apps_train), "test": sorted(p.problem_id for p in apps_test)}
    else:
        split = load_or_make_split(resolve_path(data.split_file) if data.split_file else out / "split.json",
                                   by_id, data.test_fraction, data.split_seed, data.validation_fraction)
        write_split(out / "split.json", split)
    unknown = [name for name in data.splits if name not in split]
    if unknown:
        raise SystemExit(f"data.splits names {unknown}, but the split file has only {sorted(split)}; "
                         "a validation split needs data.validation_fraction > 0")
    missing = [pid for name in data.splits for pid in split[name] if pid not in by_id]
    if missing:
        raise SystemExit(f"split file names {len(missing)} problems not in {source} (e.g. {missing[:3]})")

    work = [(name, by_id[pid]) for name in data.splits for pid in (split[name][: data.limit] if data.limit else split[name])]
    done = _recover(out)
    todo = [(name, p) for name, p in work if p.problem_id not in done]

    if todo:
        step = max(cfg.problems_per_batch, 1)
        chunks = [todo[b:b + step] for b in range(0, len(todo), step)]
        position = {(name, p.problem_id): i for name in data.splits
                    for i, p in enumerate(p for n, p in work if n == name)}
        session = Session(out, cfg, position, len(todo), progress_bar)
        generator = _generator_path(cfg.generator)
        templates = load_templates(resolve_path(cfg.prompt_templates) if cfg.prompt_templates else None)
        try:
            if cfg.engine == "ray":
                from .distributed import RayConfig, run_on_ray

                run_on_ray(chunks, cfg, ray_cfg or RayConfig(), generator, templates, session)
            else:
                _run_local(chunks, cfg, generator, templates, session)
        finally:
            session.close()

    stats = write_stats(out, data, cfg, report)
    return stats


def _run_local(chunks, cfg: RolloutsConfig, generator: str, templates: dict[str, str], session: Session) -> None:
    from transformers import AutoTokenizer

    judge = Judge(**judge_settings(cfg))
    # Known before a model is loaded or anything generated: a machine that cannot isolate stops here.
    session.isolation(judge.probe())
    tokenizer = AutoTokenizer.from_pretrained(generator, revision=cfg.revision)
    backend = engine_backend(cfg, generator, tokenizer)
    session.engines_ready()
    for chunk in chunks:
        counts = WorkCounts()
        results = chunk_rollouts(chunk, MeteredBackend(backend, counts), MeteredJudge(judge, counts), tokenizer, templates, cfg)
        session.commit("local", chunk, results, counts, os.getpid(), socket.gethostname())


def engine_backend(cfg: RolloutsConfig, generator: str, tokenizer):
    """The generation backend the config names, as every engine (and Ray worker) builds it."""
    return make_backend(cfg.backend, generator, SamplingConfig(cfg.temperature, cfg.top_p), revision=cfg.revision,
                        device=cfg.device, dtype=cfg.dtype, server_url=cfg.server_url, tokenizer=tokenizer,
                        vllm_options=cfg.vllm, threads=cfg.torch_threads)


def judge_settings(cfg: RolloutsConfig) -> dict[str, Any]:
    """`Judge(...)` arguments from the config (the judge path resolved where the judge runs)."""
    return {"judge_path": resolve_path(cfg.judge_path) if cfg.judge_path else None, "workers": cfg.judge_workers,
            "timeout_s": cfg.judge_timeout_s, "memory_mb": cfg.judge_memory_mb,
            "isolation": cfg.judge_isolation, "allow_weak_isolation": cfg.allow_weak_isolation}


def chunk_rollouts(chunk: list[tuple[str, Any]], backend, judge, tokenizer, templates: dict[str, str],
                   cfg: RolloutsConfig) -> list[dict[str, Any]]:
    """The rollouts of a chunk of (split, problem), whichever engine runs it: per problem its
    prompt, its trunk and fork records and, in `rollouts.independent_splits`, its independent
    samples (all but the dataset-level fields `commit_problem` adds)."""
    fork_cfg = ForkingConfig(cfg.num_forks, cfg.samples_per_fork, cfg.max_new_tokens, cfg.min_fork_distance,
                             cfg.trunk_policy, cfg.trunk_retries)
    prompts = [build_prompt(problem, tokenizer, templates) for _, problem in chunk]
    batch = [(problem, ids) for (_, problem), (_, ids) in zip(chunk, prompts)]
    evaluated = [i for i, (name, _) in enumerate(chunk) if name in cfg.independent_splits]
    independent = dict(zip(evaluated, generate_independent([batch[i] for i in evaluated], backend, judge, tokenizer,
                                                           cfg.independent_samples, cfg.max_new_tokens, cfg.seed)))
    records = generate_rollouts(batch, backend, judge, tokenizer, fork_cfg, cfg.seed)
    return [{"prompt_text": text, "prompt_ids": ids, "records": recs, "independent": independent.get(i, []),
             "generator": {"id": backend.generator_id, "revision": backend.revision}}
            for i, ((text, ids), recs) in enumerate(zip(prompts, records))]


class Session:
    """This process's part of a build, whichever engine: commits each finished problem, counts
    the work per worker, moves the progress bar and keeps throughput.json current."""

    WRITE_EVERY_S = 30.0

    def __init__(self, out: Path, cfg: RolloutsConfig, position: dict[tuple[str, str], int], total: int, progress_bar: bool):
        from tqdm import tqdm

        self.out, self.cfg, self.position = out, cfg, position
        self.workers: dict[str, WorkerReport] = {}
        self.started, self.t0 = time.time(), time.perf_counter()
        self.written_at: float | None = None
        self.startup_s: float | None = None
        self.mode: str | None = None  # the judge's isolation, probed before anything is generated
        self.bar = tqdm(total=total, desc=f"problems ({cfg.engine})", unit="problem", disable=not progress_bar)

    def isolation(self, mode: str) -> None:
        """Called by the engine with the isolation its judge probed, before any generation."""
        _record_isolation(self.out, mode)
        self.mode = mode

    def engines_ready(self) -> None:
        """Called by the engine once every generation engine is loaded."""
        self.startup_s = time.perf_counter() - self.t0

    def commit(self, worker: str, chunk: list[tuple[str, Any]], results: list[dict[str, Any]], counts: WorkCounts,
               pid: int, node: str) -> None:
        for (name, problem), result in zip(chunk, results):
            # One mode per dataset (run.json) even when judging changes mode mid-run (a fallback
            # to weak) or, on Ray, judge tasks land on nodes that isolate differently.
            modes = {r["isolation"] for r in result["records"] + result["independent"]} - {self.mode}
            if modes:
                raise SystemExit(f"problem {problem.problem_id} was judged under {'/'.join(sorted(modes))} isolation, the "
                                 f"run under {self.mode} (run.json): labels from both would mix, so it was not written. "
                                 "Judge where every machine isolates the same way (on Ray, ray.judge_resources keeps "
                                 "judge tasks to such nodes), then run the same command again to resume")
            commit_problem(self.out, self.cfg, name, problem, self.position[(name, problem.problem_id)], result)
        counts.problems += len(chunk)
        counts.rollouts += sum(len(r["records"]) + len(r["independent"]) for r in results)
        report = self.workers.setdefault(worker, WorkerReport(worker, node=node))
        report.counts.add(counts)
        if pid not in report.pids:
            report.pids.append(pid)
        self.bar.update(len(chunk))
        wall = time.perf_counter() - self.t0
        self.bar.set_postfix(rollouts_per_s=f"{sum(w.counts.rollouts for w in self.workers.values()) / wall:.2f}")
        if self.written_at is None or wall - self.written_at >= self.WRITE_EVERY_S:
            self._write(wall)

    def _write(self, wall: float) -> None:
        workers = [self.workers[k] for k in sorted(self.workers)]
        write_throughput_session(self.out, session_summary(self.cfg.engine, workers, wall, self.started, self.startup_s),
                                 replace_last=self.written_at is not None)
        self.written_at = wall

    def close(self) -> None:
        self.bar.close()
        if self.workers:
            self._write(time.perf_counter() - self.t0)


def _record_isolation(out: Path, mode: str) -> None:
    """Writes the judge's isolation mode into run.json; a dataset is labelled under one mode."""
    run_file = out / "run.json"
    run = json.loads(run_file.read_text())
    if run.get("isolation") not in (None, mode):
        raise SystemExit(f"{out} was labelled under {run['isolation']} isolation, and the judge here now runs {mode}; "
                         "labels from both would mix. Resume where the judge isolates the same way, or choose another rollouts.output_dir")
    run["isolation"] = mode
    run["weak_isolation"] = is_weak_isolation({"isolation": mode})
    run_file.write_text(json.dumps(run, indent=1))


def commit_problem(out: Path, cfg: RolloutsConfig, name: str, problem, position: int, result: dict[str, Any]) -> None:
    """Appends one problem's rollouts to its shard, then marks the problem done (see module doc).
    Only training problems are excluded for having no passing fork rollout: evaluation keeps
    every problem and reports with and without the unsolved ones (docs/EVALUATION.md)."""
    independent = result["independent"]
    passes = sum(r["label"] for r in result["records"])
    records = result["records"] + independent
    for r in records:
        r.update({"split": name, "difficulty": problem.difficulty, "kind": problem.kind,
                  "prompt_text": result["prompt_text"], "prompt_token_ids": result["prompt_ids"],
                  "generator": result["generator"],
                  "sampling": {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_new_tokens": cfg.max_new_tokens}})
    kept = passes > 0 or not cfg.exclude_no_pass or name != "train"
    shard = out / "shards" / shard_name("rollouts" if kept else "excluded", name, position // cfg.problems_per_shard)
    append_jsonl(shard, records)
    append_jsonl(out / "progress.jsonl", [{"problem_id": problem.problem_id, "split": name, "kept": kept,
                                           "rollouts": len(records), "passes": passes, "independent": len(independent),
                                           "independent_passes": sum(r["label"] for r in independent)}])


def _generator_path(generator: str) -> str:
    """A hub id or local path; `tiny-random:DIR` builds a random tiny Phi-3 there once (CPU runs, tests)."""
    if not generator:
        raise SystemExit("rollouts.generator is empty: give a model path, a hub id or tiny-random:DIR")
    if generator.startswith(TINY_PREFIX):
        path = Path(resolve_path(generator[len(TINY_PREFIX):]))
        if not (path / "config.json").is_file():
            from ..testing.tiny import save_tiny_causal_lm

            save_tiny_causal_lm(path)
        return str(path)
    local = resolve_path(generator)
    return local if Path(local).exists() else generator


def write_stats(out: Path, data: DataConfig, cfg: RolloutsConfig, report: LoadReport) -> dict[str, Any]:
    kept = read_dataset_shards(out, "rollouts")
    excluded = read_dataset_shards(out, "excluded")
    progress = read_jsonl(out / "progress.jsonl") if (out / "progress.jsonl").is_file() else []
    balanced, balance_report = balance([r for r in kept if r["split"] == "train"], cfg.balance_seed)
    write_jsonl(out / "balanced-train.jsonl", balanced)

    def class_balance(rows):
        pos = sum(r["label"] for r in rows)
        return {"rollouts": len(rows), "pass": pos, "fail": len(rows) - pos,
                "pass_rate": pos / len(rows) if rows else None}

    def independent(r):
        return (r.get("branch") or {}).get("role") == "independent"

    per_split: dict[str, Any] = {}
    for name in data.splits:
        split_rows = [r for r in kept if r["split"] == name]
        rows = [r for r in split_rows if not independent(r)]  # trunks and forks
        samples = [r for r in split_rows if independent(r)]
        problems = {r["problem_id"]: r for r in rows}
        figure6 = Counter((r["kind"], r["difficulty"]) for r in problems.values())
        per_split[name] = {
            "problems_done": sum(1 for p in progress if p["split"] == name),
            "problems_kept": len(problems),
            "problems_excluded": sum(1 for p in progress if p["split"] == name and not p["kept"]),
            **class_balance(rows),
            "by_difficulty": {d: class_balance([r for r in rows if r["difficulty"] == d])
                              for d in sorted({r["difficulty"] for r in rows})},
            "kinds_by_difficulty": {f"{k}/{d}": n for (k, d), n in sorted(figure6.items())},
            "independent_samples": {**class_balance(samples),
                                    "problems_with_a_pass": len({r["problem_id"] for r in samples if r["label"]})},
        }
    stats = {"output_dir": str(out), "skipped_no_tests": report.skipped_no_tests,
             "rollouts_kept": len(kept), "rollouts_excluded": len(excluded), **class_balance(kept),
             "splits": per_split, "balanced_train": {k: v for k, v in balance_report.items() if k != "left_out_ids"},
             "balanced_left_out_ids": balance_report["left_out_ids"]}
    (out / "stats.json").write_text(json.dumps(stats, indent=1))
    _plots(out, per_split)
    return stats


def _plots(out: Path, per_split: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(exist_ok=True)
    names = list(per_split)
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(5 * max(len(names), 1), 4), squeeze=False)
    for ax, name in zip(axes[0], names):  # Figure 6: problem kinds × difficulty per split
        counts = per_split[name]["kinds_by_difficulty"]
        diffs = sorted({k.split("/", 1)[1] for k in counts})
        bottom = [0] * len(diffs)
        for kind in ("standard_input", "call_based"):
            vals = [counts.get(f"{kind}/{d}", 0) for d in diffs]
            ax.bar(diffs, vals, bottom=bottom, label=kind)
            bottom = [a + b for a, b in zip(bottom, vals)]
        ax.set_title(f"{name}: problems by difficulty and kind")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "plots" / "kinds_difficulty.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, name in enumerate(names):
        by_d = per_split[name]["by_difficulty"]
        ax.bar([f"{name}\n{d}" for d in by_d], [v["pass_rate"] or 0 for v in by_d.values()])
    ax.set_ylabel("pass rate of rollouts")
    fig.tight_layout()
    fig.savefig(out / "plots" / "class_balance.png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passlens-train build-dataset", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--limit", type=int, default=None, help="problems per split (overrides data.limit)")
    parser.add_argument("--engine", choices=["local", "ray"], help="overrides rollouts.engine")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    read_config(args.config)
    data = load_section(args.config, "data", DataConfig)
    cfg = load_section(args.config, "rollouts", RolloutsConfig)
    if args.limit is not None:
        data.limit = args.limit
    if args.engine:
        cfg.engine = args.engine
    ray_cfg = None
    if cfg.engine == "ray":
        from .distributed import RayConfig

        ray_cfg = load_section(args.config, "ray", RayConfig)
    try:
        stats = build(data, cfg, progress_bar=not args.no_progress, ray_cfg=ray_cfg)
    except WeakIsolationRefused as refused:
        raise SystemExit(f"build-dataset: {refused}") from None
    print(f"build-dataset: {stats['rollouts_kept']} rollouts kept ({stats['pass']} pass / {stats['fail']} fail), "
          f"{stats['rollouts_excluded']} in excluded problems; balanced train: {stats['balanced_train']['rollouts_out']} "
          f"rollouts, {stats['balanced_train']['problems_left_out']} one-class problems left out; see {stats['output_dir']}/stats.json")
    return 0
