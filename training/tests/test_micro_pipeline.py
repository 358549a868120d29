"""CI end to end: the micro-ci config through every real stage CLI (world → generator →
build-dataset → train → score → evaluate → export), then the paper's effect at the CI
bar on held-out problems: critic best-of-1 above baseline pass@1 and AUROC >= 0.65.
The slowest Python test (budget: under 5 minutes on 2 cores)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "training" / "passlens_training" / "configs" / "micro-ci.yaml"


@pytest.mark.micro_e2e
def test_micro_ci_build_shows_the_effect_and_resumes_from_cache(tmp_path):
    work = tmp_path / "micro"
    cmd = [sys.executable, "-m", "passlens_training.micro.build", "--config", str(CONFIG),
           "--work-dir", str(work), "--check", "--no-progress"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]

    metrics = json.loads((work / "evaluation" / "metrics.json").read_text())
    assert metrics["best_of_k"]["1"] > metrics["baseline_pass_at_k"]["1"], metrics
    assert metrics["balanced"]["auroc"] >= 0.65 and metrics["imbalanced"]["auroc"] >= 0.65, metrics
    bundle = work / "critic-bundle"
    assert (bundle / "passlens-critic.json").is_file() and (bundle / "model.onnx").is_file()
    assert any((work / "generator").rglob("*.onnx")), "generator not exported for transformers.js"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.count("up to date") == 7, again.stdout
