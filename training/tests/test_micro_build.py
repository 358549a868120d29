"""The micro build's cache: a stage reruns only when its config section, its code or an
upstream stage changed; `${work}` reaches the other stages' sections."""
from pathlib import Path

import yaml

from passlens_training.micro.build import STAGES, Build, Stage


def write_config(path: Path, train_n: int, lr: float) -> Path:
    path.write_text(yaml.safe_dump({
        "micro": {"train_problems_per_template": train_n, "test_problems_per_template": 1},
        "train": {"lr": lr, "data": "${work}/dataset"},
    }))
    return path


def test_stages_rebuild_only_when_their_inputs_change(tmp_path):
    calls = []
    world = STAGES[0]
    counting = Stage("train", ("train",), ("micro.build",), ("world",), lambda b: calls.append(b.section("train")))
    config = write_config(tmp_path / "c.yaml", 1, 0.1)

    def build():
        b = Build(config, str(tmp_path / "work"), progress=False)
        b.run([world, counting])
        return b

    b = build()
    assert len(calls) == 1 and calls[0]["data"] == f"{tmp_path / 'work'}/dataset"
    n_problems = len(b.problems_file.read_text().splitlines())
    assert n_problems == 8 * 2 + 4 * 2

    build()  # nothing changed: both stages skipped
    assert len(calls) == 1

    write_config(config, 1, 0.2)  # only the train section changed
    before = b.problems_file.stat().st_mtime_ns
    build()
    assert len(calls) == 2 and b.problems_file.stat().st_mtime_ns == before

    write_config(config, 2, 0.2)  # the world changed: it and everything after it rebuild
    build()
    assert len(calls) == 3 and len(b.problems_file.read_text().splitlines()) == 8 * 2 * 2 + 4 * 2


def test_a_failed_stage_is_not_stamped_and_reruns(tmp_path):
    config = write_config(tmp_path / "c.yaml", 1, 0.1)
    attempts = []

    def flaky(b):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("killed")

    stage = Stage("train", ("train",), ("micro.build",), ("world",), flaky)
    for _ in range(2):
        try:
            Build(config, str(tmp_path / "work"), progress=False).run([STAGES[0], stage])
        except RuntimeError:
            pass
    Build(config, str(tmp_path / "work"), progress=False).run([STAGES[0], stage])
    assert len(attempts) == 2
