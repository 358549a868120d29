"""CI end to end on a real model: configs/real-ci.yaml (SmolLM2-135M-Instruct, a Llama, on
four HumanEval problems) through every stage CLI: generation, check-program labels, training
on cached hidden states, scoring, evaluation, export; then the bundle scored by the
extension's CLI (onnxruntime-node) within 1e-4 of PyTorch, and a rerun that finds every stage
up to date. Budget: a few minutes on 2 cores once the model is converted (cached)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from passlens_training.contracts import TEMPLATE_KEYS, build_messages, load_templates
from passlens_training.data.humaneval import load_humaneval
from passlens_training.export.critic_bundle import check_bundle
from passlens_training.records import read_dataset_shards, read_scores
from passlens_training.rollouts.judging import Judge
from passlens_training.testing.fixtures import reference_scores
from passlens_training.testing.real import node_values, real_model_folder, require_asset
from test_real_report import RECORD as EDITOR_RECORD

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "training" / "passlens_training" / "configs" / "real-ci.yaml"
CONCISE = ROOT / "training" / "passlens_training" / "configs" / "prompts-concise.json"


@pytest.mark.real_e2e
def test_real_ci_run_labels_trains_exports_and_scores_alike_in_node(tmp_path):
    require_asset("humaneval")
    real_model_folder("smollm2-135m-instruct")  # converted once, outside the timed run
    work = tmp_path / "real"
    cmd = [sys.executable, "-m", "passlens_training.real.build", "--config", str(CONFIG), "--work-dir", str(work)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]

    problems = {p.problem_id: p for p in load_humaneval()}
    split = json.loads((work / "dataset" / "split.json").read_text())
    rollouts = read_dataset_shards(work / "dataset", "rollouts")
    assert {r["split"] for r in rollouts} == {"train", "test"}
    roles = [(r["split"], r["branch"]["role"]) for r in rollouts]
    # per problem a trunk and K x M branches; per test problem 2 independent samples too (#18)
    assert len(rollouts) == 4 * (1 + 2 * 2) + 2 * 2
    assert roles.count(("test", "independent")) == 2 * 2 and ("train", "independent") not in roles
    assert all(r["problem_id"] in split[r["split"]] for r in rollouts)
    # Labels are the check programs' verdicts on the extracted code.
    verdicts = Judge(workers=2).judge([(r["rollout_id"], r["code"], problems[r["problem_id"]].tests) for r in rollouts])
    assert [r["label"] for r in rollouts] == [v["passed"] for v in verdicts]
    assert all(len(r["verdicts"]) == 1 for r in rollouts)

    critic = work / "critic"
    config = json.loads((critic / "config.json").read_text())
    # transformers writes num_labels as the one-entry id2label
    assert config["architectures"] == ["LlamaForTokenClassification"] and config["id2label"] == {"0": "pass"}
    info = json.loads((critic / "passlens-training.json").read_text())
    assert info["metrics"]["steps"] == 3 and info["parameters"]["trainable_layers"] == 2
    assert (work / "hidden-states" / "index.json").is_file()
    scores = read_scores(work / "scores-test.jsonl")
    assert sorted(s.rollout_id for s in scores) == sorted(r["rollout_id"] for r in rollouts if r["split"] == "test")
    assert (work / "evaluation" / "report.md").is_file()

    bundle = work / "critic-bundle"
    manifest = json.loads((bundle / "passlens-critic.json").read_text())
    assert manifest["architecture"]["model_type"] == "llama" and manifest["architecture"]["num_kv_heads"] == 3
    assert {k: manifest["prompt"][k] for k in TEMPLATE_KEYS} == load_templates(CONCISE)  # what the rollouts used
    assert check_bundle(bundle, critic) == []
    # The extension's runtime scores test rollouts as PyTorch does.
    test_rollouts = [r for r in rollouts if r["split"] == "test"]
    problem = problems[test_rollouts[0]["problem_id"]]
    texts = [r["text"] for r in test_rollouts if r["problem_id"] == problem.problem_id][:3]
    reference = reference_scores(critic, build_messages(problem.question, problem.starter_code, problem.kind,
                                                        manifest["prompt"]), texts)
    node = node_values(bundle, problem, texts, tmp_path / "node")
    for expected, got in zip(reference["values"], node):
        assert len(got) == len(expected) and max(abs(a - b) for a, b in zip(expected, got)) < 1e-4

    # The run's page: its headline names every ranker and says whether the critic beats likelihood.
    page = tmp_path / "docs" / "real.md"
    page.parent.mkdir()
    # An editor run's record (scripts/real-cpu-editor.sh) survives the results being copied again and gets its section.
    (tmp_path / "docs" / "real").mkdir()
    (tmp_path / "docs" / "real" / "editor-run.json").write_text(json.dumps(EDITOR_RECORD))
    report = subprocess.run([sys.executable, "-m", "passlens_training.real.report", "--config", str(CONFIG), "--work-dir", str(work),
                             "--out", str(page)], capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-4000:]
    text = page.read_text()
    assert "Does the critic beat likelihood ranking" in text and "| likelihood, mean log-prob |" in text
    assert "smollm2-135m-instruct" in text and "## Evaluation report" in text
    assert (tmp_path / "docs" / "real" / "metrics.json").is_file() and (tmp_path / "docs" / "real" / "scores-test.jsonl").is_file()
    assert (tmp_path / "docs" / "real" / "editor-run.json").is_file() and "## In the editor" in text

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.count("up to date") == 6, again.stdout
