"""A non-editable install works outside the repository: the wheel carries the contracts and
the judge, and a stage run from another folder finds both."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from passlens_training.testing.tiny import save_tiny_causal_lm

TRAINING = Path(__file__).resolve().parents[1]
SAMPLE = TRAINING.parent.parent / "shared" / "apps-sample" / "problems.jsonl"


def test_wheel_install_runs_a_stage_from_another_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(TRAINING)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next(wheels.glob("passlens_training-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "passlens_training/_contracts/prompt_templates.json" in names and "passlens_training/_sandbox/judge.py" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)], check=True,
                   capture_output=True)
    # Elsewhere, with the installed copy first on the path and no repository in sight.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PASSLENS_CONTRACTS", None)
    probe = subprocess.run([sys.executable, "-c", "import passlens_training as p, passlens_training.contracts as c, "
                            "passlens_training.rollouts.judging as j; print(p.__file__); print(c.contracts_dir()); print(j.default_judge())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(line.startswith(str(site)) for line in probe), probe

    problems = elsewhere / "problems.jsonl"
    problems.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:4]))
    config = elsewhere / "c.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"source": str(problems), "test_fraction": 0.5, "limit": 1},
        "rollouts": {"output_dir": "out", "generator": str(save_tiny_causal_lm(tmp_path / "gen", seed=1)), "max_new_tokens": 8,
                     "num_forks": 1, "samples_per_fork": 1, "independent_samples": 1, "judge_workers": 1,
                     "exclude_no_pass": False}}))
    run = subprocess.run([sys.executable, "-m", "passlens_training.rollouts", "--config", str(config), "--no-progress"],
                         cwd=elsewhere, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = json.loads((elsewhere / "out" / "stats.json").read_text())
    # one train and one test problem, trunk + 1 fork sample each, and the test problem's independent sample
    assert stats["rollouts_kept"] == 2 * 2 + 1
