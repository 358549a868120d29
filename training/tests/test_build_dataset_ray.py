"""build-dataset on a local Ray cluster (2 CPU generation workers, a judge pool): the same records
as the single-process engine, and nothing lost or doubled when a worker or the driver is killed."""
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
import yaml

from passlens_training.data.apps import load_problems
from passlens_training.records import read_jsonl, read_throughput
from passlens_training.rollouts.build import RolloutsConfig, Session, main
from passlens_training.rollouts.distributed import RayConfig, _PoolJudge, worker_count, worker_gpus
from passlens_training.rollouts.judging import Judge, default_judge
from passlens_training.rollouts.throughput import WorkCounts
from passlens_training.testing.tiny import save_tiny_causal_lm

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "apps-sample" / "problems.jsonl"
TINY_CONFIG = Path(__file__).resolve().parents[1] / "passlens_training" / "configs" / "tiny-cpu.yaml"
PROBLEMS = 6  # 3 train + 3 test
INDEPENDENT = 2  # independent samples per test problem
RECORDS = PROBLEMS * (1 + 2 * 2) + PROBLEMS // 2 * INDEPENDENT  # a trunk and K x M forks each, and the test problems' samples


def write_config(path: Path, generator: Path, out: Path, engine: str, ray: dict | None = None, **rollouts) -> Path:
    config = {
        "data": {"source": str(SAMPLE), "test_fraction": 0.25, "split_seed": 0, "limit": PROBLEMS // 2},
        "rollouts": {"output_dir": str(out), "engine": engine, "generator": str(generator), "max_new_tokens": 12,
                     "num_forks": 2, "samples_per_fork": 2, "judge_workers": 1, "problems_per_shard": 2,
                     # Isolation is tested on its own (the last test): these run without bubblewrap too.
                     "exclude_no_pass": True, "torch_threads": 1, "allow_weak_isolation": True,
                     "independent_samples": INDEPENDENT, "independent_splits": ["test"], **rollouts},
        "ray": {**yaml.safe_load(TINY_CONFIG.read_text())["ray"], **(ray or {})},  # 2 CPU workers, a judge pool
    }
    path.write_text(yaml.safe_dump(config))
    return path


def shard_lines(out: Path) -> list[str]:
    """Every record of the dataset as the exact line written, sorted (a shard's order follows completion)."""
    return sorted(line for f in (out / "shards").glob("*.jsonl") for line in f.read_text().splitlines())


def progress_ids(out: Path) -> list[str]:
    return sorted(r["problem_id"] for r in read_jsonl(out / "progress.jsonl"))


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return save_tiny_causal_lm(tmp_path_factory.mktemp("gen"), seed=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, generator):
    """The single-process (local engine) run of the same config."""
    tmp = tmp_path_factory.mktemp("local")
    assert main(["--config", str(write_config(tmp / "c.yaml", generator, tmp / "out", "local")), "--no-progress"]) == 0
    return tmp / "out"


def start_driver(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "passlens_training.rollouts", "--config", str(config), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for_progress(proc: subprocess.Popen, out: Path, lines: int, timeout_s: float = 240) -> int:
    progress, deadline = out / "progress.jsonl", time.time() + timeout_s
    while proc.poll() is None and time.time() < deadline:
        if progress.is_file() and progress.read_text().count("\n") >= lines:
            return progress.read_text().count("\n")
        time.sleep(0.05)
    raise AssertionError(f"no {lines} finished problems in time; driver exit {proc.poll()}: "
                         f"{proc.communicate(timeout=5)[0][-3000:] if proc.poll() is not None else ''}")


def finish(proc: subprocess.Popen) -> str:
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output[-5000:]
    return output


@pytest.fixture(scope="class")
def ray_instance():
    """A local Ray instance in this process, as `ray.init` starts one; a build finding Ray running uses it."""
    import ray

    ray.init(num_cpus=3, object_store_memory=100 * 2**20, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.mark.usefixtures("ray_instance")
class TestOnALocalRayInstance:
    def test_ray_run_gives_the_local_records(self, tmp_path, generator, reference):
        out = tmp_path / "ray"
        assert main(["--config", str(write_config(tmp_path / "c.yaml", generator, out, "ray")), "--no-progress"]) == 0
        expected = shard_lines(reference)
        assert len(expected) == RECORDS
        roles = Counter(json.loads(line)["branch"]["role"] for line in expected)
        assert roles == {"trunk": PROBLEMS, "branch": PROBLEMS * 2 * 2, "independent": PROBLEMS // 2 * INDEPENDENT}
        assert shard_lines(out) == expected  # byte-identical records: seeds per problem, same torch threads
        assert progress_ids(out) == progress_ids(reference) and len(set(progress_ids(out))) == PROBLEMS
        # One isolation mode, the one the judge pool was probed under, as the local judge was.
        run, ref_run = (json.loads((d / "run.json").read_text()) for d in (out, reference))
        assert run["isolation"] == ref_run["isolation"] and {json.loads(line)["isolation"] for line in expected} == {run["isolation"]}
        stats, ref_stats = (json.loads((d / "stats.json").read_text()) for d in (out, reference))
        assert {**stats, "output_dir": ""} == {**ref_stats, "output_dir": ""}
        [local] = read_throughput(reference)
        assert local["engine"] == "local" and [w["worker"] for w in local["workers"]] == ["local"]
        assert local["rollouts"] == local["workers"][0]["rollouts"] == len(expected) and local["rollouts_per_s"] > 0
        for run in (local, session := read_throughput(out)[0]):
            assert 0 < run["startup_s"] < run["wall_s"] and run["rollouts_per_s_after_startup"] > run["rollouts_per_s"]
        [session] = read_throughput(out)
        assert session["engine"] == "ray" and session["problems"] == PROBLEMS and session["rollouts"] == len(expected)
        assert sorted(w["worker"] for w in session["workers"]) == ["worker-0", "worker-1"]
        assert sum(w["rollouts"] for w in session["workers"]) == len(expected)
        assert all(w["problems"] > 0 and w["tokens_per_s"] > 0 and len(w["pids"]) == 1 for w in session["workers"])
        assert os.getpid() not in {w["pids"][0] for w in session["workers"]}  # generated in the workers
        # Generated tokens: a trunk's, and each branch's after its fork position.
        records = [json.loads(line) for line in expected]
        assert session["generated_tokens"] == sum(len(r["token_ids"]) - (r["branch"]["fork_position"] or 0) for r in records)

    def test_the_judge_pool_gives_the_local_verdicts(self):
        """The random generator writes no code, so the builds above run no program: the pool is
        checked here on real ones (reference solutions, a wrong program, a repeat, no code)."""
        problems = load_problems(str(SAMPLE))[:3]
        items = [(f"{p.problem_id}/{k}", code, p.tests) for p in problems
                 for k, code in enumerate([p.solutions[0], "print(0)", p.solutions[0], ""])]
        settings = {"workers": 1, "timeout_s": 10.0, "allow_weak_isolation": True}
        local, local_run = Judge(**settings).judge_counted(items)
        pool = _PoolJudge({**settings, "isolation": local[0]["isolation"]}, {"num_cpus": 1})  # asked by name, as in a build
        pooled, run = pool.judge_counted(items)
        verdict = ("id", "passed", "verdicts", "isolation")
        assert [[v[k] for k in verdict] for v in pooled] == [[v[k] for k in verdict] for v in local]
        assert sum(v["passed"] for v in pooled) >= 3  # the reference solutions pass
        assert run["programs"] == local_run["programs"] == 2 * len(problems)  # repeats and empty code are not run
        assert run["tests"] == local_run["tests"] > run["programs"] and run["seconds"] > 0

    def test_the_judge_pool_is_probed_before_any_engine_loads(self, tmp_path, generator):
        """A judge that finds no bubblewrap or firejail where it runs (the real judge, its PATH
        emptied): without the opt-in the build stops with the judge's reason before anything is
        generated; with it, every record and run.json say weak."""
        wrapper = tmp_path / "judge_without_sandbox_tools.py"
        wrapper.write_text("import os, subprocess, sys\n"
                           "env = dict(os.environ, PATH='/nonexistent-passlens-no-sandbox-tools')\n"
                           f"sys.exit(subprocess.run([sys.executable, {str(default_judge())!r}, *sys.argv[1:]], env=env).returncode)\n")
        out = tmp_path / "ray"
        def config(name: str, allow_weak: bool) -> str:
            return str(write_config(tmp_path / name, generator, out, "ray", ray={"workers": 1}, judge_path=str(wrapper),
                                    allow_weak_isolation=allow_weak))

        with pytest.raises(SystemExit, match=r"(?s)could only isolate weakly here|cannot run here.*bubblewrap.*allow_weak_isolation: true"):
            main(["--config", config("refused.yaml", False), "--limit", "1", "--no-progress"])
        assert not shard_lines(out) and not (out / "progress.jsonl").exists() and not (out / "throughput.json").exists()
        assert main(["--config", config("allowed.yaml", True), "--limit", "1", "--no-progress"]) == 0
        run = json.loads((out / "run.json").read_text())
        assert run["isolation"] == "weak" and run["weak_isolation"] is True
        lines = shard_lines(out)
        assert len(lines) == 2 * (1 + 2 * 2) + INDEPENDENT and {json.loads(line)["isolation"] for line in lines} == {"weak"}


def ray_workers_of(driver: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(driver).children(recursive=True)
            if p.cmdline() and p.cmdline()[0].startswith("ray::RolloutWorker")]


def test_a_killed_worker_loses_and_doubles_nothing(tmp_path, generator, reference):
    out = tmp_path / "ray"
    proc = start_driver(write_config(tmp_path / "c.yaml", generator, out, "ray"))
    try:
        wait_for_progress(proc, out, 1)
        workers = ray_workers_of(proc.pid)
        assert len(workers) == 2, [p.cmdline() for p in workers]
        originals = {p.pid for p in workers}
        os.kill(workers[0].pid, signal.SIGKILL)  # it holds chunks in flight: 5 of 6 problems are left
        finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert shard_lines(out) == shard_lines(reference)
    assert progress_ids(out) == progress_ids(reference)  # each problem once
    [session] = read_throughput(out)
    assert session["problems"] == PROBLEMS
    # The killed worker's chunks were done again by its restarted process.
    assert {pid for w in session["workers"] for pid in w["pids"]} - originals


def test_a_killed_driver_resumes(tmp_path, generator, reference):
    out = tmp_path / "ray"
    config = write_config(tmp_path / "c.yaml", generator, out, "ray")
    proc = start_driver(config)
    family = [proc.pid]
    try:
        wait_for_progress(proc, out, 1)
        family += [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]  # its local Ray instance
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done = (out / "progress.jsonl").read_text().count("\n")
    finally:
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert 1 <= done < PROBLEMS
    finish(start_driver(config))
    assert shard_lines(out) == shard_lines(reference)
    assert progress_ids(out) == progress_ids(reference)
    sessions = read_throughput(out)
    assert sessions[-1]["problems"] == PROBLEMS - done  # the resumed session did only what was left


def test_one_worker_per_gpu_unless_counted():
    assert worker_gpus(RolloutsConfig(backend="vllm"), RayConfig()) == 1.0
    assert worker_gpus(RolloutsConfig(backend="hf", device="cuda:0"), RayConfig()) == 1.0
    assert worker_gpus(RolloutsConfig(backend="hf"), RayConfig()) == 0.0
    assert worker_gpus(RolloutsConfig(backend="vllm"), RayConfig(worker_gpus=2)) == 2
    assert worker_count(RayConfig(), 1.0, {"GPU": 8.0, "CPU": 64.0}) == 8
    assert worker_count(RayConfig(), 2.0, {"GPU": 7.0}) == 3
    assert worker_count(RayConfig(workers=3), 0.0, {"CPU": 4.0}) == 3
    with pytest.raises(SystemExit, match="set ray.workers for CPU workers"):
        worker_count(RayConfig(), 0.0, {"CPU": 4.0})
    with pytest.raises(SystemExit, match="0 GPUs, fewer than one worker's 1"):
        worker_count(RayConfig(), 1.0, {"CPU": 4.0})



def test_the_driver_writes_no_problem_judged_under_another_mode(tmp_path):
    """Judge tasks on a node that isolates differently (or a judge that fell back to weak mid-run):
    the problem is refused whole, nothing of it written."""
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / "run.json").write_text(json.dumps({"data": {}, "rollouts": {}}))
    [problem] = load_problems(str(SAMPLE))[:1]
    session = Session(out, RolloutsConfig(engine="ray", output_dir=str(out)), {("train", problem.problem_id): 0}, 1, False)
    session.isolation("bwrap")
    records = [{"rollout_id": f"r{i}", "label": False, "isolation": mode} for i, mode in enumerate(["bwrap", "weak"])]
    result = {"prompt_text": "p", "prompt_ids": [1], "records": records[:1], "independent": records[1:],
              "generator": {"id": "g", "revision": None}}
    with pytest.raises(SystemExit, match=r"judged under weak isolation, the run under bwrap \(run.json\).*not written"):
        session.commit("worker-0", [("train", problem)], [result], WorkCounts(), os.getpid(), "node")
    assert not shard_lines(out) and not (out / "progress.jsonl").exists()
    assert json.loads((out / "run.json").read_text())["isolation"] == "bwrap"
