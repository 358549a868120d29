"""`rollouts.engine: ray`: build-dataset over a Ray cluster.

- Generation workers (Ray actors, `ray.workers` of them): each holds one engine (vLLM on a GPU,
  one replica per GPU; the hf backend on CPU or a GPU) and its tokenizer, and turns chunks of
  problems into records with the same code as the local engine (`build.chunk_rollouts`), so
  the same per-problem seeds give the same records.
- Judging runs as Ray tasks in a CPU pool (`ray.judge_cpus` each, optional custom resources).
  The pool's isolation is probed first, on a judging node, before any engine loads; every
  judge task then asks for that mode by name, so the run has one (recorded in run.json).
  A worker takes `ray.chunks_in_flight` chunks at once: while one chunk's programs are judged,
  its engine generates the next chunk's (one engine call at a time), so a GPU does not wait on
  the sandbox, including between a trunk wave and its fork wave.
- The driver (this process) hands out chunks and alone writes the output, problem by problem,
  with the local engine's commit (`build.commit_problem`): shards, then progress.jsonl.

Why actors and tasks, not Ray Data: a problem needs two dependent waves on the same engine
(trunks, then forks from the trunks' own low-probability tokens), an engine is loaded once per
GPU and kept, and the resume contract wants one writer that commits whole problems.

Failures: a worker that dies is restarted (up to `ray.max_restarts`) and Ray runs its
unfinished chunks again on it; nothing of theirs was written, so nothing is lost or doubled. A
judge task whose process dies is retried. When the driver dies, rerunning the same command
resumes from progress.jsonl like a local run.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections import deque
from typing import Any

from .build import RolloutsConfig, Session, chunk_rollouts, engine_backend, judge_settings
from .judging import Judge, WeakIsolationRefused
from .throughput import MeteredBackend, MeteredJudge, WorkCounts


@dataclasses.dataclass
class RayConfig:
    """The config's `ray` section."""

    # "" = a new Ray instance on this machine for the run (inside `ray job submit`: that job's
    # cluster); "auto" = the cluster this node joined with `ray start`; "ray://HOST:10001" = Ray Client.
    address: str = ""
    workers: int = 0  # generation workers; 0 = one per GPU of the cluster (worker_gpus each)
    worker_gpus: float | None = None  # per worker; None = 1 for vllm or a cuda device, else 0
    worker_cpus: float = 1.0
    chunks_in_flight: int = 2  # per worker; 2+ lets a chunk's judging overlap the next chunk's generation
    judge_cpus: float = 0  # per judge task; 0 = rollouts.judge_workers (the sandbox processes a judge run starts)
    judge_resources: dict[str, float] = dataclasses.field(default_factory=dict)  # e.g. {"sandbox": 1}: CPU nodes only
    max_restarts: int = 3  # per worker, after which the build stops (what is done stays done)
    num_cpus: int = 0  # a local instance's CPUs (0 = this machine's); Ray resources, not pinned cores
    object_store_memory_mb: int = 0  # a local instance's object store (0 = Ray's default)
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # for workers and judge tasks, e.g. VLLM_BATCH_INVARIANT


class _OneCallAtATime:
    """An engine shared by a worker's concurrent chunks: one generate call at a time (an engine
    is not thread-safe, and the hf backend seeds torch's global generator per request)."""

    def __init__(self, backend):
        self.backend, self.lock = backend, threading.Lock()
        self.generator_id, self.revision = backend.generator_id, backend.revision

    def generate(self, requests):
        with self.lock:
            return self.backend.generate(requests)


def _judge_task(judge_kwargs: dict[str, Any], items: list) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return Judge(**judge_kwargs).judge_counted(items)


def _probe_task(cfg: RolloutsConfig) -> str:
    return Judge(**judge_settings(cfg)).probe()


class _PoolJudge:
    """The Judge interface over the Ray judge pool: one task per judge call."""

    def __init__(self, judge_kwargs: dict[str, Any], options: dict[str, Any]):
        import ray

        self.judge_kwargs = judge_kwargs
        self.task = ray.remote(_judge_task).options(**options)

    def judge_counted(self, items):
        import ray

        return ray.get(self.task.remote(self.judge_kwargs, items))


class RolloutWorker:
    """A generation worker (a Ray actor): one engine, its tokenizer, chunks in, records out."""

    def __init__(self, cfg: RolloutsConfig, generator: str, templates: dict[str, str], judge_options: dict[str, Any],
                 isolation: str):
        import ray
        from transformers import AutoTokenizer

        self.cfg, self.templates = cfg, templates
        self.node = ray.util.get_node_ip_address()
        self.tokenizer = AutoTokenizer.from_pretrained(generator, revision=cfg.revision)
        self.backend = _OneCallAtATime(engine_backend(cfg, generator, self.tokenizer))
        self.judge = _PoolJudge({**judge_settings(cfg), "isolation": isolation}, judge_options)

    def rollouts(self, chunk: list[tuple[str, Any]]) -> tuple[list[dict[str, Any]], WorkCounts, int, str]:
        counts = WorkCounts()
        results = chunk_rollouts(chunk, MeteredBackend(self.backend, counts), MeteredJudge(self.judge, counts),
                                 self.tokenizer, self.templates, self.cfg)
        return results, counts, os.getpid(), self.node


def worker_gpus(cfg: RolloutsConfig, rc: RayConfig) -> float:
    if rc.worker_gpus is not None:
        return rc.worker_gpus
    return 1.0 if cfg.backend == "vllm" or cfg.device.startswith("cuda") else 0.0


def worker_count(rc: RayConfig, gpus_each: float, cluster: dict[str, float]) -> int:
    if rc.workers > 0:
        return rc.workers
    if gpus_each <= 0:
        raise SystemExit("ray.workers is 0 (one per GPU) but the workers use no GPU: set ray.workers for CPU workers")
    count = int(cluster.get("GPU", 0) // gpus_each)
    if count == 0:
        raise SystemExit(f"the Ray cluster has {cluster.get('GPU', 0):g} GPUs, fewer than one worker's {gpus_each:g}; "
                         "add GPU nodes, or set ray.worker_gpus 0 and ray.workers for CPU workers")
    return count


def run_on_ray(chunks: list[list[tuple[str, Any]]], cfg: RolloutsConfig, rc: RayConfig, generator: str,
               templates: dict[str, str], session: Session) -> None:
    try:
        import ray
    except ImportError as err:
        raise SystemExit("rollouts.engine 'ray' needs Ray: pip install 'passlens-training[ray]'") from err

    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"logging_level": logging.WARNING,
                                   "runtime_env": {"env_vars": dict(rc.env)} if rc.env else None}
        if rc.address or os.environ.get("RAY_ADDRESS"):  # a cluster; a `ray job submit` driver finds its own
            ray.init(address=rc.address or None, **options)
        else:  # a new instance for this run, even beside a `ray start` one
            ray.init(address="local", num_cpus=rc.num_cpus or None, include_dashboard=False,
                     object_store_memory=rc.object_store_memory_mb * 2**20 or None, **options)
    try:
        gpus_each = worker_gpus(cfg, rc)
        cluster = ray.cluster_resources()
        count = min(worker_count(rc, gpus_each, cluster), len(chunks))  # no engine loaded for no work
        judge_cpus = rc.judge_cpus or cfg.judge_workers
        need = count * rc.worker_cpus + judge_cpus
        if cluster.get("CPU", 0) < need:
            raise SystemExit(f"the Ray cluster has {cluster.get('CPU', 0):g} CPUs; {count} workers x {rc.worker_cpus:g} "
                             f"and one judge task of {judge_cpus:g} need {need:g} (set ray.num_cpus for a local "
                             "instance, or fewer ray.workers / ray.judge_cpus)")
        judge_options = {"num_cpus": judge_cpus, "resources": dict(rc.judge_resources), "max_retries": 3}
        try:
            isolation = ray.get(ray.remote(_probe_task).options(**judge_options).remote(cfg))
        except WeakIsolationRefused as refused:  # raised in the task: its message, not Ray's traceback
            raise WeakIsolationRefused(str(getattr(refused, "cause", refused))) from None
        session.isolation(isolation)
        actor = ray.remote(RolloutWorker).options(
            num_cpus=rc.worker_cpus, num_gpus=gpus_each, max_concurrency=max(rc.chunks_in_flight, 1),
            max_restarts=rc.max_restarts, max_task_retries=-1)
        workers = [actor.remote(cfg, generator, templates, judge_options, isolation) for _ in range(count)]
        ray.get([w.__ray_ready__.remote() for w in workers])  # engines loaded (or the error that stopped one)
        session.engines_ready()
        queue = deque(chunks)
        in_flight: dict[Any, tuple[int, list]] = {}

        def hand_out(w: int) -> None:
            if queue:
                chunk = queue.popleft()
                in_flight[workers[w].rollouts.remote(chunk)] = (w, chunk)

        for _ in range(max(rc.chunks_in_flight, 1)):
            for w in range(count):
                hand_out(w)
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            w, chunk = in_flight.pop(ref)
            try:
                results, counts, pid, node = ray.get(ref)
            except ray.exceptions.RayActorError as err:
                raise SystemExit(f"Ray worker {w} died more than ray.max_restarts={rc.max_restarts} times ({err}); "
                                 "finished problems are kept: run the same command again to resume") from err
            session.commit(f"worker-{w}", chunk, results, counts, pid, node)
            hand_out(w)
    finally:
        if started_here:
            ray.shutdown()
