"""tiny dataset → train → score (checkpoint and bundle) → calibrate → evaluate, through the real CLIs."""

import json
import subprocess
import sys
from pathlib import Path

import yaml
from transformers import AutoTokenizer

from passlens_training import contracts
from passlens_training.testing.tiny import save_tiny_causal_lm

from test_train import write_separable_dataset


def run(*args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def with_independent_samples(path: Path) -> Path:
    """The separable records with every odd-numbered problem's rollouts turned into independent
    samples (ids problem/i{k}, role independent), as build-dataset writes them for test problems."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        p, i = int(r["problem_id"][1:]), r["branch"]["sample_index"]
        if p % 2:
            r["rollout_id"] = f"{r['problem_id']}/i{i}"
            r["branch"] = {"trunk_id": None, "role": "independent", "fork_position": None, "fork_rank": None, "sample_index": i}
            r["logprobs"] = [-0.1 * (i + 1)] * len(r["token_ids"])  # the generator prefers earlier samples
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_train_score_evaluate(tmp_path):
    base = save_tiny_causal_lm(tmp_path / "base", num_layers=2, hidden_size=32)
    data = with_independent_samples(write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"train": {"base_model": str(base), "train_data": [str(data)], "output_dir": str(tmp_path / "run"),
                                             "batch_size": 4, "learning_rate": 3e-3, "epochs": 6, "trainable_layers": 1, "max_length": 64}}))
    run("passlens_training.train", "--config", str(cfg), cwd=tmp_path)
    final = tmp_path / "run"
    # float32 like the bundle (auto would score in bfloat16 on a GPU machine)
    run("passlens_training.evaluate.score", "--checkpoint", str(final), "--data", str(data), "--out", str(tmp_path / "ckpt.jsonl"),
        "--torch-dtype", "float32", cwd=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "ckpt.jsonl").read_text().splitlines()]
    special_ids = AutoTokenizer.from_pretrained(final).all_special_ids
    records = [json.loads(line) for line in data.read_text().splitlines()]
    assert [r["rollout_id"] for r in rows] == [r["rollout_id"] for r in records]
    assert all(len(r["values"]) == len(rec["token_ids"]) for r, rec in zip(rows, records))
    for row, rec in zip(rows, records):
        contracts.validate(row, "scores-record")
        assert row["independent"] == (rec["branch"]["role"] == "independent")
        assert row["logprobs"] == [round(v, 6) for v in rec["logprobs"]]
        # the ranking value: the last generated token that is not special (generations end in <|end|>)
        assert row["rank_index"] == contracts.ranking_index(rec["token_ids"], special_ids) == len(rec["token_ids"]) - 2

    from passlens_training.export.critic_bundle import build_bundle
    build_bundle(final, tmp_path / "bundle")
    run("passlens_training.evaluate.score", "--bundle", str(tmp_path / "bundle"), "--data", str(data), "--out", str(tmp_path / "onnx.jsonl"), cwd=tmp_path)
    onnx_rows = [json.loads(line) for line in (tmp_path / "onnx.jsonl").read_text().splitlines()]
    for a, b in zip(rows, onnx_rows):
        assert max(abs(x - y) for x, y in zip(a["values"], b["values"])) < 1e-4

    # Calibration fitted on these scores (a stand-in for a validation split), stored in the checkpoint,
    # written into the bundle manifest by export.
    run("passlens_training.evaluate.calibrate", "--scores", str(tmp_path / "ckpt.jsonl"), "--out", str(final / "passlens-calibration.json"),
        cwd=tmp_path)
    calibration = json.loads((final / "passlens-calibration.json").read_text())
    assert calibration["method"] == "platt" and calibration["a"] > 0 and calibration["fitted_on"]["data"] == "independent samples"
    build_bundle(final, tmp_path / "calibrated")
    manifest = json.loads((tmp_path / "calibrated" / "passlens-critic.json").read_text())
    contracts.validate(manifest, "critic-manifest")
    assert {k: manifest["calibration"][k] for k in ("method", "a", "b")} == {k: calibration[k] for k in ("method", "a", "b")}

    out = tmp_path / "eval"
    run("passlens_training.evaluate", "--scores", f"pytorch={tmp_path / 'ckpt.jsonl'}", "--scores", f"onnx={tmp_path / 'onnx.jsonl'}",
        "--data", str(data), "--calibration", str(final / "passlens-calibration.json"), "--out", str(out), cwd=tmp_path)
    metrics = json.loads((out / "pytorch" / "metrics.json").read_text())
    assert set(metrics) == {"classification_data", "imbalanced", "balanced", "independent_imbalanced", "baseline_pass_at_k",
                            "best_of_k", "relative_improvement", "selection", "gutter", "calibration", "n_problems", "n_rollouts"}
    assert metrics["n_rollouts"] == 24 and metrics["imbalanced"]["accuracy"] >= 0.9
    assert metrics["classification_data"] == "forks" and metrics["selection"]["data"] == "independent samples"
    rankers = metrics["selection"]["subsets"]["all"]["rankers"]
    assert rankers["critic_final"]["best_of_k"]["1"]["value"] == 1.0 and rankers["oracle"]["best_of_k"]["1"]["value"] == 1.0
    assert rankers["likelihood_mean"]["best_of_k"]["1"]["value"] == 1.0  # sample 0 passes and is the likeliest
    assert metrics["calibration"]["ece_after"] is not None
    report = (out / "report.md").read_text()
    assert "| | pytorch | onnx |" in report
    for row in ("random (= pass@k)", "generator mean token log-prob", "generator total log-prob", "critic final value",
                "critic minimum over code tokens", "oracle", "line of the critic's largest drop", "ECE (10 bins)"):
        assert row in report, row
    for name in ("pytorch", "onnx"):
        for png in ("score_histogram", "confidence_trace", "reliability"):
            assert (out / name / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "plots" / "percentile_accuracy.png").stat().st_size > 1000

    single = tmp_path / "single"
    run("passlens_training.evaluate", "--scores", str(tmp_path / "ckpt.jsonl"), "--calibration", str(final / "passlens-calibration.json"),
        "--out", str(single), cwd=tmp_path)
    assert json.loads((single / "metrics.json").read_text()) == metrics


def test_evaluate_takes_defaults_from_a_config_and_rejects_missing_files(tmp_path):
    scores = tmp_path / "s.jsonl"
    scores.write_text("".join(json.dumps({"problem_id": f"p{i % 2}", "rollout_id": str(i), "passed": i % 3 == 0,
                                          "values": [0.2, 0.9 if i % 3 == 0 else 0.1], "code_start": 1}) + "\n" for i in range(6)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"evaluate": {"scores": str(scores), "out": str(tmp_path / "ev")}}))
    run("passlens_training.evaluate", "--config", str(cfg), cwd=tmp_path)
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["imbalanced"]["accuracy"] == 1.0
    assert metrics["selection"]["data"].startswith("all rollouts") and metrics["selection"]["subsets"]["all"]["rankers"]["likelihood_mean"] is None
    proc = subprocess.run([sys.executable, "-m", "passlens_training.evaluate", "--scores", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "is not a file" in proc.stderr
