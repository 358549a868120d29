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


def test_report_states_the_effect_from_the_build_files(tmp_path):
    import json

    from passlens_training.micro.report import render

    config = write_config(tmp_path / "c.yaml", 1, 0.1)
    b = Build(config, str(tmp_path / "work"), progress=False)
    evaluation = b.work / "evaluation"
    evaluation.mkdir(parents=True)
    acc = {str(p): 0.5 + p / 400 for p in range(0, 101, 10)}
    block = {"accuracy": 0.8, "auroc": 0.81, "ece": 0.05, "precision": 0.7, "negative_predictive_value": 0.9,
             "true_positive_rate": 0.75, "true_negative_rate": 0.85, "percentile_accuracy": acc}
    metrics = {"baseline_pass_at_k": {"1": 0.45, "3": 0.65, "10": 0.84}, "best_of_k": {"1": 0.55, "3": 0.75, "10": 0.9},
               "relative_improvement": {"1": 0.2222, "3": 0.1538, "10": 0.0714},
               "imbalanced": block, "balanced": {**block, "auroc": 0.74}, "n_problems": 40, "n_rollouts": 1480}
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    (evaluation / "plots").mkdir()
    (evaluation / "plots" / "percentile_accuracy.png").write_bytes(b"\x89PNG")
    other = Build(config, str(tmp_path / "seed1"), progress=False, seed=1)
    (other.work / "evaluation").mkdir(parents=True)
    (other.work / "evaluation" / "metrics.json").write_text(json.dumps({**metrics, "best_of_k": {**metrics["best_of_k"], "1": 0.40},
                                                                        "relative_improvement": {"1": -0.1111}}))
    out = tmp_path / "docs" / "reproduction.md"
    out.parent.mkdir()
    text = render(b, out, [other])
    assert "| 1 | 45.0% | 55.0% | 22.2% |" in text
    assert "balanced 0.740" in text and "effect bar: NOT MET" in text  # balanced AUROC under 0.75
    assert "![percentile_accuracy](reproduction-plots/percentile_accuracy.png)" in text
    assert (out.parent / "reproduction-plots" / "percentile_accuracy.png").is_file()
    assert "| 0 | 40 | 45.0% | 55.0% | 22.2% | 0.810 | 0.740 | NOT met |" in text
    assert "| 1 | 40 | 45.0% | 40.0% | -11.1% | 0.810 | 0.740 | NOT met |" in text


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
    assert full.expect.min_best_of_1_relative == 0.20 and full.expect.min_auroc == 0.75
    assert ci.expect.min_auroc == 0.65 and ci.train_problems_per_template < full.train_problems_per_template


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
