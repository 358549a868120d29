"""A run of several stages, cached and resumable: each stage's output holds a stamp, the hash
of the config sections it reads, its code (the modules it imports, transitively, plus the
judge and the contracts: source_digest.py) and the stamps of the stages it depends on. A
stage whose stamp matches is skipped, so a rerun after a kill resumes at the first unfinished
stage, and changing one section rebuilds that stage and what follows only. An interrupted
stage with unchanged inputs keeps its partial output (the dataset stage resumes from its
shards, training from its checkpoints); with other inputs it starts from nothing.

Used by the real-model runs (real/build.py). The stage commands run as subprocesses with
`OMP_WAIT_POLICY=PASSIVE`: on a machine whose cores other jobs also use, OpenMP's spinning
threads made a 4x576 matmul take 10 ms of CPU instead of 0.34 (torch 2.13, 2 threads).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from .source_digest import source_digest

STAGE_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}


def substitute(value: Any, names: dict[str, str]) -> Any:
    """Replaces `${name}` in every string of a config tree."""
    if isinstance(value, str):
        for name, replacement in names.items():
            value = value.replace("${" + name + "}", replacement)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, names) for v in value]
    return value


def digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclass
class Stage:
    name: str
    sections: tuple[str, ...]  # what of the config it reads: sections ("train") or keys ("real.model")
    code: tuple[str, ...]  # modules it runs (under passlens_training); their imports count too
    after: tuple[str, ...]
    run: Callable[["Runner"], None]
    outputs: Callable[["Runner"], list[Path]]  # removed before a rebuild with other inputs


class Runner:
    """`work`: the run's folder; `config`: the resolved config (every section, `${...}`
    substituted), written to work/config.yaml for the stage commands."""

    def __init__(self, label: str, work: Path, config: dict[str, Any], *, threads: int = 0):
        self.label, self.work, self.config = label, work, config
        self.env = {**os.environ, **STAGE_ENV}
        if threads:
            self.env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
        self.stamps: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    @property
    def config_file(self) -> Path:
        return self.work / "config.yaml"

    def section(self, name: str) -> dict:
        return dict(self.config.get(name) or {})

    def value(self, path: str) -> Any:
        """A section ("train") or a key in one ("real.model"); None when absent."""
        section, _, key = path.partition(".")
        value = self.config.get(section)
        return (value or {}).get(key) if key else value

    def say(self, message: str) -> None:
        print(f"[{self.label}] {message}", flush=True)

    def stage_cli(self, module: str, *args: str) -> None:
        cmd = [sys.executable, "-m", f"passlens_training.{module}", *args]
        self.say(f"$ {' '.join(cmd)}")
        result = subprocess.run(cmd, env=self.env)
        if result.returncode != 0:
            raise SystemExit(f"[{self.label}] stage command failed ({result.returncode}): {' '.join(cmd)}")

    def run(self, stages: list[Stage], until: str | None = None) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.config, sort_keys=False)
        if not self.config_file.exists() or self.config_file.read_text() != text:
            self.config_file.write_text(text)
        started = time.monotonic()
        for number, stage in enumerate(stages, 1):
            stamp = digest([self.value(s) for s in stage.sections],
                           source_digest(*(f"passlens_training.{m}" for m in stage.code)),
                           [self.stamps[a] for a in stage.after])
            stamp_file = self.work / ".stamps" / stage.name
            where = f"stage {number}/{len(stages)} {stage.name}"
            if stamp_file.is_file() and stamp_file.read_text() == stamp:
                self.say(f"{where}: up to date ({stamp})")
            else:
                self.say(f"{where}: building (run time so far {_clock(time.monotonic() - started)})")
                began = time.monotonic()
                stamp_file.unlink(missing_ok=True)
                self._clear_stale_outputs(stage, stamp)
                stage.run(self)
                stamp_file.parent.mkdir(parents=True, exist_ok=True)
                stamp_file.write_text(stamp)
                seconds = round(time.monotonic() - began, 1)
                stamp_file.with_suffix(".seconds").write_text(str(seconds))
                self.say(f"{where}: done in {_clock(seconds)}")
            seconds_file = stamp_file.with_suffix(".seconds")
            if seconds_file.is_file():  # the time of the build that made the stage's current output
                self.timings[stage.name] = float(seconds_file.read_text())
            self.stamps[stage.name] = stamp
            if stage.name == until:
                break

    def _clear_stale_outputs(self, stage: Stage, stamp: str) -> None:
        """Removes what an earlier build of the stage left, unless it was an interrupted build
        with these same inputs (then the stage resumes from it)."""
        pending = self.work / ".stamps" / f"{stage.name}.pending"
        if not (pending.is_file() and pending.read_text() == stamp):
            for path in stage.outputs(self):
                if path.resolve().is_relative_to(self.work.resolve()) and path.exists():
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        pending.parent.mkdir(parents=True, exist_ok=True)
        pending.write_text(stamp)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


@contextlib.contextmanager
def exclusive(work: Path, label: str) -> Iterator[None]:
    """Two runs of one work folder would overwrite each other's stages: the second waits."""
    work.mkdir(parents=True, exist_ok=True)
    lock = open(work / ".run.lock", "w")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[{label}] waiting for another run of {work} ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        lock.close()
