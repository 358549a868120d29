"""The micro build's cache: a stage reruns only when its config section, its code or an
upstream stage changed; `${work}` reaches the other stages' sections."""
from pathlib import Path

import yaml

from passlens_training.micro.build import STAGES, Build, Stage
from passlens_training.micro.problems import families_for


def write_config(path: Path, train_n: int, lr: float) -> Path:
    path.write_text(yaml.safe_dump({
        "micro": {"train_problems_per_template": train_n, "validation_problems_per_template": 1, "test_problems_per_template": 1},
        "train": {"lr": lr, "data": "${work}/dataset"},
    }))
    return path


def test_stages_rebuild_only_when_their_inputs_change(tmp_path):
    calls = []
    world = STAGES[0]
    counting = Stage("train", ("train",), ("micro.build",), ("world",), lambda b: calls.append(b.section("train")), lambda b: [])
    config = write_config(tmp_path / "c.yaml", 1, 0.1)

    def build():
        b = Build(config, str(tmp_path / "work"), progress=False)
        b.run([world, counting])
        return b

    b = build()
    assert len(calls) == 1 and calls[0]["data"] == f"{tmp_path / 'work'}/dataset"
    n_problems = len(b.problems_file.read_text().splitlines())
    held_out = len(families_for("validation")) + len(families_for("test"))
    assert n_problems == 2 * (len(families_for("train")) + held_out)  # one per (family, kind)

    build()  # nothing changed: both stages skipped
    assert len(calls) == 1

    write_config(config, 1, 0.2)  # only the train section changed
    before = b.problems_file.stat().st_mtime_ns
    build()
    assert len(calls) == 2 and b.problems_file.stat().st_mtime_ns == before

    write_config(config, 2, 0.2)  # the world changed: it and everything after it rebuild
    build()
    assert len(calls) == 3 and len(b.problems_file.read_text().splitlines()) == 2 * (2 * len(families_for("train")) + held_out)


def test_a_failed_stage_is_not_stamped_and_reruns(tmp_path):
    config = write_config(tmp_path / "c.yaml", 1, 0.1)
    attempts = []

    def flaky(b):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("killed")

    stage = Stage("train", ("train",), ("micro.build",), ("world",), flaky, lambda b: [])
    for _ in range(2):
        try:
            Build(config, str(tmp_path / "work"), progress=False).run([STAGES[0], stage])
        except RuntimeError:
            pass
    Build(config, str(tmp_path / "work"), progress=False).run([STAGES[0], stage])
    assert len(attempts) == 2


def test_a_rebuild_starts_from_nothing_unless_it_resumes_the_same_inputs(tmp_path):
    """A resumable stage (the dataset) must not resume from what other inputs made: after
    a generator change its old shards went into the new critic's training (seen once)."""
    seen = []

    def shards(b):
        out = b.work / "dataset"
        seen.append(sorted(p.name for p in out.glob("*")) if out.exists() else [])
        out.mkdir(exist_ok=True)
        (out / f"shard-lr{b.section('train')['lr']}").write_text("rollouts")
        if b.section("train").get("kill"):
            raise RuntimeError("killed half way")

    stage = Stage("train", ("train",), ("micro.build",), ("world",), shards, lambda b: [b.work / "dataset"])
    config = tmp_path / "c.yaml"

    def build(lr, kill=False):
        config.write_text(yaml.safe_dump({"micro": {"train_problems_per_template": 1, "validation_problems_per_template": 1,
                                                    "test_problems_per_template": 1},
                                          "train": {"lr": lr, "kill": kill}}))
        try:
            Build(config, str(tmp_path / "work"), progress=False).run([STAGES[0], stage])
        except RuntimeError:
            pass

    build(0.1)
    build(0.2)  # other inputs: the old shard is gone before the stage runs
    assert seen[-1] == []
    build(0.3, kill=True)
    build(0.3, kill=True)  # the same inputs again: it resumes from the interrupted build's shard
    assert seen[-1] == ["shard-lr0.3"]
    build(0.4)  # an interrupted build with other inputs is not resumed either
    assert seen[-1] == []


def fake_evaluation(b: Build, split: str, critic_skill: float) -> None:
    """A scores file and its metrics.json for one split of build `b`: per family of the split,
    2 problems of 4 independent samples (2 pass) and two forks; the critic ranks a passing
    sample first with probability `critic_skill` (seeded), the generator's likelihood never."""
    import json
    import random

    from passlens_training.evaluate.metrics import compute_metrics
    from passlens_training.evaluate.report import calibration_metrics
    from passlens_training.records import ScoredRollout, score_row, write_jsonl

    rng = random.Random(f"{split}/{critic_skill}")
    rows = []
    for family in families_for(split):
        for p in range(2):
            pid = f"micro-{split}-{family.name}-stdin-{p:03d}"
            good = rng.random() < critic_skill
            for k, passed in enumerate((True, False, True, False)):
                s = (0.9 if passed else 0.2) if good else (0.2 if passed else 0.9)
                rows.append(ScoredRollout(pid, f"{pid}/i{k}", passed, (0.5, s), 1, independent=True,
                                          logprobs=(-1.0 if passed else -0.1,) * 2, token_lines=(-1, 0)))
            rows.append(ScoredRollout(pid, f"{pid}/t0", True, (0.5, 0.8, 0.9), 1, token_lines=(-1, 0, 1)))
            rows.append(ScoredRollout(pid, f"{pid}/f0s0", False, (0.5, 0.8, 0.1), 1, token_lines=(-1, 0, 1), decisive_index=2))
    write_jsonl(b.scores_file(split), (score_row(r) for r in rows))
    metrics = compute_metrics(rows, bootstrap_samples=200)
    metrics["calibration"] = calibration_metrics(rows, {"method": "platt", "a": 0.8, "b": 0.1, "fitted_on": {"rollouts": 64, "data": "independent samples"}})
    b.evaluation_dir(split).mkdir(parents=True, exist_ok=True)
    (b.evaluation_dir(split) / "metrics.json").write_text(json.dumps(metrics))


def test_report_reads_how_to_read_then_test_over_seeds_then_validation(tmp_path):
    from passlens_training.micro.report import render

    config = write_config(tmp_path / "c.yaml", 1, 0.1)
    builds = [Build(config, str(tmp_path / f"seed{seed}"), progress=False, seed=seed) for seed in (0, 1, 2)]
    for b, skill in zip(builds, (1.0, 0.5, 0.0)):
        for split in ("validation", "test"):
            fake_evaluation(b, split, skill)
    (builds[0].evaluation_dir("test") / "plots").mkdir()
    (builds[0].evaluation_dir("test") / "plots" / "reliability.png").write_bytes(b"\x89PNG")
    out = tmp_path / "docs" / "reproduction.md"
    out.parent.mkdir()
    text = render(builds[0], out, builds[1:])
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[:5] == ["## How to read this", "## The untouched test families", "## The validation families (tuned on)",
                            "## Seed 0 in detail: test families", "## Seed 0 in detail: validation families"]
    for family in families_for("test") + families_for("validation"):
        assert f"`{family.name}`" in text
    # The seeds table: one row per seed and the mean ± sd; seed 0's critic always picks a pass
    # (100 %), seed 2's never; the likelihood ranking picks a failure every time (0 %).
    test_table = text.split("## The untouched test families")[1].split("## The validation")[0]
    rows = [line for line in test_table.splitlines() if line.startswith("| ")][2:]
    assert [r.split(" | ")[0] for r in rows] == ["| 0", "| 1", "| 2", "| mean ± sd"]
    assert rows[0].split(" | ")[5] == "100.0%" and rows[2].split(" | ")[5] == "0.0%"  # critic final
    assert rows[0].split(" | ")[3] == "0.0%"  # likelihood mean
    assert rows[3].split(" | ")[5].startswith("50.0% ± ") or rows[3].split(" | ")[5].count("±") == 1
    assert rows[0].endswith("| yes |") and rows[2].endswith("| no |")
    assert "critic final value (ranking index)" in text and "line of the critic's largest drop" in text
    assert "![reliability](reproduction-plots/reliability.png)" in text
    assert (out.parent / "reproduction-plots" / "reliability.png").is_file()


def test_seed_override_reseeds_world_rollouts_and_critic(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"micro": {"seed": 0}, "rollouts": {"seed": 0, "num_forks": 6}, "train": {"seed": 0, "lr": 0.1}}))
    b = Build(config, str(tmp_path / "work"), progress=False, seed=7)
    assert b.cfg.seed == 7 and b.section("rollouts") == {"seed": 7, "num_forks": 6} and b.section("train")["seed"] == 7
    assert Build(config, str(tmp_path / "work"), progress=False).section("train")["seed"] == 0


def test_shipped_configs_load_with_nested_sections():
    from passlens_training.micro.generator import GeneratorConfig

    configs = Path(__file__).resolve().parents[1] / "passlens_training" / "configs"
    full = Build(configs / "micro.yaml", progress=False).cfg
    ci = Build(configs / "micro-ci.yaml", progress=False).cfg
    assert isinstance(full.generator, GeneratorConfig) and isinstance(ci.generator, GeneratorConfig)
    assert full.expect.min_best_of_1_relative == 0.20 and full.expect.min_auroc == 0.75 and full.expect.beat_likelihood
    assert ci.expect.min_auroc == 0.65 and ci.train_problems_per_template < full.train_problems_per_template
    for cfg in (full, ci):
        assert cfg.validation_problems_per_template > 0 and cfg.test_problems_per_template > 0
    rollouts = Build(configs / "micro.yaml", progress=False).section("rollouts")
    assert rollouts["independent_samples"] >= 10 and rollouts["independent_splits"] == ["validation", "test"]


def test_stage_code_is_the_import_closure_plus_judge_and_contracts():
    from passlens_training.source_digest import PACKAGE, module_closure

    names = {str(p.relative_to(PACKAGE)) for p in module_closure("passlens_training.rollouts")}
    # imported directly, transitively (records through data.apps), and lazily inside a function (testing.tiny)
    assert {"rollouts/build.py", "rollouts/judging.py", "records.py", "contracts.py", "data/apps.py", "testing/tiny.py"} <= names
    assert not any(n.startswith(("micro/", "evaluate/", "export/")) for n in names)


def test_changing_any_file_a_stage_depends_on_rebuilds_it(tmp_path, monkeypatch):
    """Edits to a module the stage imports transitively, to the judge and to the contracts
    each rebuild it; an edit elsewhere in the package does not."""
    import shutil

    from passlens_training import contracts, source_digest
    from passlens_training.rollouts import judging

    package = tmp_path / "pkg" / "passlens_training"
    shutil.copytree(source_digest.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    sandbox = tmp_path / "python-sandbox"
    shutil.copytree(judging.default_judge().parent, sandbox, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    shutil.copytree(contracts.contracts_dir(), tmp_path / "contracts")
    monkeypatch.setattr(source_digest, "PACKAGE", package)
    monkeypatch.setattr(judging, "default_judge", lambda: sandbox / "judge.py")
    monkeypatch.setenv("PASSLENS_CONTRACTS", str(tmp_path / "contracts"))

    runs = []
    stage = Stage("dataset", ("rollouts",), ("rollouts",), ("world",), lambda b: runs.append(1), lambda b: [])
    config = write_config(tmp_path / "c.yaml", 1, 0.1)

    def build():
        Build(config, str(tmp_path / "work"), progress=False).run([STAGES[0], stage])
        return len(runs)

    assert build() == 1 and build() == 1
    for edited, rebuilds in ((package / "micro" / "report.py", False), (package / "records.py", True),
                             (sandbox / "compare.py", True), (tmp_path / "contracts" / "prompt_templates.json", True)):
        before = len(runs)
        edited.write_text(edited.read_text() + ("\n" if edited.suffix == ".json" else "\n# edited\n"))
        assert build() == before + rebuilds, f"editing {edited.name}"
