"""The build-dataset stage end to end: shards, resume after a real kill, stats, balanced file."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from passlens_training import contracts
from passlens_training.records import read_dataset_shards as read_shards
from passlens_training.rollouts.build import main
from passlens_training.testing.tiny import save_tiny_causal_lm

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "apps-sample" / "problems.jsonl"


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return save_tiny_causal_lm(tmp_path_factory.mktemp("gen"), seed=1)


def write_config(path: Path, generator: Path, out: Path, **rollouts) -> Path:
    config = {
        "data": {"source": str(SAMPLE), "test_fraction": 0.25, "split_seed": 0, "limit": 3},
        "rollouts": {"output_dir": str(out), "generator": str(generator), "max_new_tokens": 16,
                     "num_forks": 2, "samples_per_fork": 3, "judge_workers": 2, "problems_per_shard": 2,
                     # Resume and stats do not depend on the isolation (the last test is about it):
                     # they run on machines without bubblewrap too.
                     "exclude_no_pass": True, "independent_samples": 2, "allow_weak_isolation": True, **rollouts},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def all_rollouts(out: Path):
    rows = read_shards(out, "rollouts") + read_shards(out, "excluded")
    return sorted((r["rollout_id"], tuple(r["token_ids"]), r["label"]) for r in rows)


def run_stage(config: Path):
    return subprocess.Popen([sys.executable, "-m", "passlens_training.rollouts", "--config", str(config), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_resume_after_kill_gives_the_same_set(tmp_path, generator):
    full = tmp_path / "full"
    proc = run_stage(write_config(tmp_path / "full.yaml", generator, full))
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    reference = all_rollouts(full)
    ids = [r[0] for r in reference]
    # 3 train + 3 test problems, 1 + K×M each, and N = 2 independent samples of each test problem
    assert len(ids) == len(set(ids)) == 6 * (1 + 2 * 3) + 3 * 2
    stats = json.loads((full / "stats.json").read_text())
    assert stats["splits"]["train"]["problems_done"] == 3 and stats["splits"]["test"]["problems_done"] == 3
    # A random model never passes: the train problems are excluded (kept in excluded shards), nothing
    # is balanced, and the test problems are kept all the same (evaluation keeps unsolved problems).
    assert stats["rollouts_excluded"] == 21 and stats["rollouts_kept"] == 21 + 6
    assert stats["splits"]["test"]["problems_kept"] == 3 and stats["splits"]["test"]["independent_samples"]["rollouts"] == 6
    assert (full / "plots" / "kinds_difficulty.png").stat().st_size > 0

    killed = tmp_path / "killed"
    # Batching problems (as for vLLM) changes no rollout: per-problem seeds.
    config = write_config(tmp_path / "killed.yaml", generator, killed, problems_per_batch=2)
    proc = run_stage(config)
    progress = killed / "progress.jsonl"
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline:
        if progress.is_file() and progress.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = progress.read_text().count("\n")
    assert 2 <= done_before < 6
    # A kill can also land between a shard write and its progress line, or tear a line: make both happen.
    shard = next((killed / "shards").glob("*.jsonl"))
    with open(shard, "a") as f:
        f.write(json.dumps({**json.loads(shard.read_text().splitlines()[0]), "problem_id": "train/9999"}) + "\n")
        f.write('{"rollout_id": "torn')
    proc = run_stage(config)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    assert all_rollouts(killed) == reference


def test_kept_problems_stats_and_balanced_file(tmp_path, generator):
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", generator, out, exclude_no_pass=False)
    assert main(["--config", str(config), "--limit", "2", "--no-progress"]) == 0
    rows = read_shards(out, "rollouts")
    assert len(rows) == 4 * 7 + 2 * 2 and not read_shards(out, "excluded")
    run = json.loads((out / "run.json").read_text())
    assert run["weak_isolation"] == (run["isolation"] == "weak")
    for r in rows:
        contracts.validate(r, "rollout-record")
        assert r["isolation"] == run["isolation"]
        assert r["prompt_text"].endswith("<|assistant|>") and r["generator"]["id"] == str(generator)
        assert r["sampling"] == {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 16}
        assert r["kind"] in ("standard_input", "call_based") and r["split"] in ("train", "test")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rollouts_kept"] == 32 and stats["fail"] == 32 - stats["pass"]
    kinds = sum(stats["splits"]["train"]["kinds_by_difficulty"].values())
    assert kinds == stats["splits"]["train"]["problems_kept"] == 2
    split = json.loads((out / "split.json").read_text())
    assert {r["problem_id"] for r in rows if r["split"] == "test"} <= set(split["test"])
    # Resuming with other settings is refused rather than mixing two runs.
    changed = write_config(tmp_path / "c.yaml", generator, out, exclude_no_pass=False, num_forks=3)
    with pytest.raises(SystemExit, match="different settings"):
        main(["--config", str(changed), "--limit", "2", "--no-progress"])


def test_weak_isolation_labels_only_with_the_opt_in_and_is_recorded(tmp_path, generator, monkeypatch):
    out = tmp_path / "weak"
    def config(name, **extra):
        return write_config(tmp_path / name, generator, out, exclude_no_pass=False, **{"allow_weak_isolation": False, "independent_samples": 0, **extra})

    # Asking for the weak mode by name is refused before anything runs.
    with pytest.raises(SystemExit, match=r"'weak'.*escape.*allow_weak_isolation: true"):
        main(["--config", str(config("named.yaml", judge_isolation="weak")), "--limit", "1", "--no-progress"])
    # A machine without bubblewrap or firejail (PATH without them): auto does not fall back silently.
    monkeypatch.setenv("PATH", "/nonexistent-passlens-no-sandbox-tools")
    with pytest.raises(SystemExit, match=r"(?s)could only isolate weakly here|cannot run here.*bubblewrap.*allow_weak_isolation: true"):
        main(["--config", str(config("auto.yaml")), "--limit", "1", "--no-progress"])
    assert not read_shards(out, "rollouts"), "nothing was labelled"
    # With the opt-in it labels, and says under which isolation, per record and in run.json.
    assert main(["--config", str(config("allowed.yaml", allow_weak_isolation=True)), "--limit", "1", "--no-progress"]) == 0
    rows = read_shards(out, "rollouts")
    assert len(rows) == 2 * 7
    for r in rows:
        contracts.validate(r, "rollout-record")
        assert r["isolation"] == "weak"
    run = json.loads((out / "run.json").read_text())
    assert run["isolation"] == rows[0]["isolation"] and run["weak_isolation"] is True
    # Resuming (one problem left to do) where the judge isolates another way would mix labels: refused.
    monkeypatch.undo()
    if not (shutil.which("bwrap") or shutil.which("firejail")):
        pytest.skip("no strong isolation on this machine to resume under")
    progress = out / "progress.jsonl"
    progress.write_text(progress.read_text().splitlines(keepends=True)[0])
    with pytest.raises(SystemExit, match="labelled under .* isolation.*would mix"):
        main(["--config", str(config("allowed.yaml", allow_weak_isolation=True)), "--limit", "1", "--no-progress"])


def test_independent_samples_are_seeded_per_problem_apart_from_the_forks(tmp_path, generator):
    """N independent samples per evaluation problem, ids problem/i{k}, role independent; the
    same records whatever N of the forks, the batching or which other problems run."""
    out = tmp_path / "a"
    assert main(["--config", str(write_config(tmp_path / "a.yaml", generator, out, independent_samples=3)),
                 "--limit", "2", "--no-progress"]) == 0
    rows = read_shards(out, "rollouts") + read_shards(out, "excluded")
    samples = [r for r in rows if r["branch"]["role"] == "independent"]
    assert sorted(r["rollout_id"].rsplit("/", 1)[1] for r in samples) == ["i0", "i0", "i1", "i1", "i2", "i2"]
    assert {r["split"] for r in samples} == {"test"} and all(r["branch"]["trunk_id"] is None for r in samples)
    for r in samples:
        contracts.validate(r, "rollout-record")
        assert r["branch"]["sample_index"] == int(r["rollout_id"][-1]) and len(r["logprobs"]) == len(r["token_ids"])
    # Other forks, another batching, only the second test problem: the same independent samples.
    other = tmp_path / "b"
    config = write_config(tmp_path / "b.yaml", generator, other, independent_samples=3, num_forks=1,
                          samples_per_fork=1, problems_per_batch=2)
    split = json.loads((out / "split.json").read_text())
    (tmp_path / "split.json").write_text(json.dumps({"train": [], "test": split["test"][1:2]}))
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["split_file"] = str(tmp_path / "split.json")
    config.write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(config), "--no-progress"]) == 0
    again = [r for r in read_shards(other, "rollouts") if r["branch"]["role"] == "independent"]
    mine = [r for r in samples if r["problem_id"] == split["test"][1]]
    assert [(r["rollout_id"], r["token_ids"], r["label"], r["seed"]) for r in again] == \
        [(r["rollout_id"], r["token_ids"], r["label"], r["seed"]) for r in mine] and len(mine) == 3


def test_independent_samples_never_go_to_training(tmp_path, generator):
    config = write_config(tmp_path / "c.yaml", generator, tmp_path / "out", independent_splits=["train", "test"])
    with pytest.raises(SystemExit, match="independent_splits names 'train'"):
        main(["--config", str(config), "--limit", "1", "--no-progress"])
