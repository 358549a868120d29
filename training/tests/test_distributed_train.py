"""`train` over several processes: real `accelerate launch` runs of 2 processes on CPU (gloo),
resumed on the same and on another number of processes; scoring with parameters sharded over
the processes by DeepSpeed ZeRO-3 and torch FSDP2; a ZeRO-3 run through accelerate.

accelerate starts several processes with FSDP or DeepSpeed only on GPUs (on CPU they fall back
to data parallelism), so the 2-process training runs here are data parallel (whole-model
checkpoints), the sharded scoring shards the model itself
(`passlens_training.testing.sharded_eval`), and the ZeRO-3 run through accelerate has one
process; benchmarks/gpu/distributed_check.py runs the shipped DeepSpeed and FSDP2 configs on a GPU.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer

from passlens_training.evaluate.metrics import compute_metrics
from passlens_training.records import rollout_files
from passlens_training.testing.tiny import save_tiny_causal_lm
from passlens_training.train.model import load_value_model
from passlens_training.train.trainer import STATE_FILE, load_examples, score_examples
from test_train import write_config, write_separable_dataset

TRAINING_DIR = Path(__file__).resolve().parents[1]
# 5 problems × 4 rollouts in batches of 4: 5 batches an epoch, so a step of 2 batches over 2
# processes ends each epoch with one batch, and the second process runs a padding batch.
RUN = {"n_problems": 5, "epochs": 2, "batch_size": 4, "save_every_steps": 1, "mixed_precision": "no"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two_processes(*args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    """`accelerate launch` of 2 processes on CPU: accelerate's multi-process launcher (torchrun)
    with ACCELERATE_USE_CPU, which makes the processes join a gloo group."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), *args]
    return subprocess.run(cmd, env=launch_env(ACCELERATE_USE_CPU="true"), capture_output=True, text=True, timeout=timeout)


def launch_env(**extra: str) -> dict:
    # DeepSpeed on its CPU accelerator even where a GPU is present, like the rest of the launch.
    return {**os.environ, "DS_ACCELERATOR": "cpu", "PYTHONUNBUFFERED": "1", **extra,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TRAINING_DIR), os.environ.get("PYTHONPATH")]))}


def train_one_process(cfg: Path, *extra: str) -> tuple[dict, str]:
    """A plain `python -m passlens_training.train` on CPU (the launches' device, also where a GPU
    is present): its summary and output."""
    done = subprocess.run([sys.executable, "-m", "passlens_training.train", "--config", str(cfg), *extra],
                          env=launch_env(CUDA_VISIBLE_DEVICES=""), capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


def launch_train(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    done = launch_two_processes("-m", "passlens_training.train", "--config", str(cfg), *extra)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def run_config(tmp: Path, base: Path, data: Path, **train) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    options = {k: v for k, v in RUN.items() if k != "n_problems"}
    return write_config(tmp, base, data, **{**options, **train})


def assert_same_weights(a: Path, b: Path) -> None:
    pa, pb = load_value_model(a).state_dict(), load_value_model(b).state_dict()
    for name in pa:
        assert torch.allclose(pa[name], pb[name], atol=1e-5), name


def copy_checkpoint(run: Path, step: int, dest: Path) -> None:
    shutil.copytree(run / "checkpoints" / f"step-{step}", dest / "run" / "checkpoints" / f"step-{step}")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return save_tiny_causal_lm(tmp_path_factory.mktemp("base") / "tiny", num_layers=3, hidden_size=32)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_separable_dataset(tmp_path_factory.mktemp("data") / "rollouts-train-00000.jsonl", 400, n_problems=RUN["n_problems"])


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, tiny_base, data) -> dict:
    """One uninterrupted 2-process run, checkpointed after every step: the reference."""
    tmp = tmp_path_factory.mktemp("two")
    launch_train(run_config(tmp, tiny_base, data))
    return {"dir": tmp / "run", "info": json.loads((tmp / "run" / "passlens-training.json").read_text())}


def test_two_processes_take_the_steps_one_process_takes_with_their_batches(tmp_path, tiny_base, data, two_process_run):
    run = two_process_run["dir"]
    summary = two_process_run["info"]["metrics"]
    assert summary["steps"] == 6  # 3 steps of <= 2 batches per epoch
    state = json.loads((run / "checkpoints" / "step-3" / STATE_FILE).read_text())
    assert state == {"step": 3, "micro_batches_per_step": 2, "num_processes": 2, "format": "full"}
    # One process accumulating the same 2 batches per step: the same run.
    one, _ = train_one_process(run_config(tmp_path, tiny_base, data, grad_accumulation=2))
    assert one["steps"] == 6 and one["final_loss"] == pytest.approx(summary["final_loss"], abs=1e-6)
    assert_same_weights(run, tmp_path / "run")
    # Scored on both ranks and gathered, every epoch: the same figures as one process's scoring.
    assert [h["step"] for h in summary["eval"]] == [3, 6]
    for two, single in zip(summary["eval"], one["eval"]):
        assert two == pytest.approx(single, abs=1e-9)
    assert summary["eval"][-1]["auroc"] > 0.5


def test_two_process_run_resumes_on_two_processes(tmp_path, tiny_base, data, two_process_run):
    copy_checkpoint(two_process_run["dir"], 2, tmp_path)
    done = launch_train(run_config(tmp_path, tiny_base, data), "--resume")
    assert "at optimizer step 2 (world size 2 then, 2 now; 2 batches per step)" in done.stdout
    assert json.loads((tmp_path / "run" / "passlens-training.json").read_text())["metrics"]["steps"] == 6
    assert_same_weights(two_process_run["dir"], tmp_path / "run")


def test_two_process_checkpoint_resumes_on_one_process(tmp_path, tiny_base, data, two_process_run):
    copy_checkpoint(two_process_run["dir"], 4, tmp_path)  # mid-epoch: step 1 of the second epoch
    resumed, out = train_one_process(run_config(tmp_path, tiny_base, data), "--resume")
    assert "at optimizer step 4 (world size 2 then, 1 now; 2 batches per step)" in out
    assert resumed["steps"] == 6 and resumed["final_loss"] == pytest.approx(two_process_run["info"]["metrics"]["final_loss"], abs=1e-6)
    assert_same_weights(two_process_run["dir"], tmp_path / "run")


def test_one_process_checkpoint_resumes_on_two_processes(tmp_path, tiny_base, data, two_process_run):
    cfg = run_config(tmp_path, tiny_base, data, grad_accumulation=2)
    assert train_one_process(cfg, "--set", "max_steps=2")[0]["steps"] == 2
    # The step size is the checkpoint's (2 batches): with grad_accumulation 2 on 2 processes a
    # fresh run would take 4 a step, a different run.
    done = launch_train(cfg, "--resume")
    assert "at optimizer step 2 (world size 1 then, 2 now; 2 batches per step)" in done.stdout
    assert_same_weights(two_process_run["dir"], tmp_path / "run")


@pytest.fixture(scope="module")
def value_checkpoint(tmp_path_factory, tiny_base) -> Path:
    """A value model saved with its head, so every process loads the same weights."""
    out = tmp_path_factory.mktemp("value") / "critic"
    load_value_model(tiny_base).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_base).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def deepspeed_cpu_ops() -> None:
    """DeepSpeed compiles its CPU communication op the first time a process group starts (minutes
    on 2 shared cores, then cached): done here, outside the launches' time limits."""
    build = "from deepspeed.accelerator import get_accelerator; get_accelerator().create_op_builder('ShareMemCommBuilder').load()"
    subprocess.run([sys.executable, "-c", build], env=launch_env(), check=True, capture_output=True)


def launch_sharded_scoring(sharding: str, checkpoint: Path, data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return launch_two_processes("-m", "passlens_training.testing.sharded_eval", "--sharding", sharding, "--checkpoint",
                                str(checkpoint), "--data", str(data), "--out", str(out), "--batch-size", "3", *extra)


@pytest.mark.parametrize("sharding", ["zero3", "fsdp2"])
def test_sharded_scoring_on_every_rank_equals_one_process(tmp_path, value_checkpoint, data, deepspeed_cpu_ops, sharding):
    done = launch_sharded_scoring(sharding, value_checkpoint, data, tmp_path / "scores.json")
    assert done.returncode == 0, done.stderr[-5000:]
    sharded = json.loads((tmp_path / "scores.json").read_text())
    assert sharded["num_processes"] == 2 and sharded["rank0_local_numel"] < 0.6 * sharded["full_numel"], "parameters not sharded"

    tokenizer = AutoTokenizer.from_pretrained(value_checkpoint)
    examples = load_examples(rollout_files([data]), 64)
    single = score_examples(load_value_model(value_checkpoint), examples, tokenizer.pad_token_id, 3, "cpu", tokenizer.all_special_ids)
    assert [r["rollout_id"] for r in sharded["rollouts"]] == [r.rollout_id for r in single]  # 20 rollouts, 7 batches: one padded
    for mine, theirs in zip(sharded["rollouts"], single):
        assert mine["rank_index"] == theirs.rank_index
        assert torch.allclose(torch.tensor(mine["values"]), torch.tensor(theirs.values), atol=1e-5), mine["rollout_id"]
    regathered = [type(r)(r.problem_id, r.rollout_id, r.passed, tuple(m["values"]), r.code_start, r.rank_index)
                  for r, m in zip(single, sharded["rollouts"])]
    mine, theirs = compute_metrics(regathered)["imbalanced"], compute_metrics(single)["imbalanced"]
    assert {k: mine[k] for k in ("accuracy", "auroc", "ece")} == pytest.approx({k: theirs[k] for k in ("accuracy", "auroc", "ece")}, abs=1e-6)


def test_main_process_only_scoring_hangs_under_zero3(tmp_path, value_checkpoint, data, deepspeed_cpu_ops):
    """How `train` evaluated before: rank 0 alone, the others at the next collective. Rank 0's
    first forward waits for the other rank's ZeRO-3 partitions, which never come; gloo gives up
    after the 15 s collective timeout given here (30 min by default) and the launch fails."""
    done = launch_sharded_scoring("zero3", value_checkpoint, data, tmp_path / "scores.json", "--main-process-only",
                                  "--collective-timeout-s", "15")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "rank 0 scores alone" in output
    assert "Timed out waiting 15000ms" in output, output[-5000:]
    assert not (tmp_path / "scores.json").exists()


def test_zero3_run_through_accelerate_resumes_through_the_universal_checkpoint(tmp_path, tiny_base, data, deepspeed_cpu_ops):
    """`train` under accelerate's DeepSpeed ZeRO-3 (one process: all accelerate starts on CPU),
    accumulating 2 batches a step, takes the steps a plain process takes. Its step-2 checkpoint,
    its recorded world size rewritten to 2, resumes through DeepSpeed's universal format (the path
    a changed world size takes) to the same weights as the uninterrupted run."""
    ds_json = tmp_path / "zero3.json"
    ds_json.write_text(json.dumps({"zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0,
                                                         "stage3_gather_16bit_weights_on_model_save": True},
                                   "train_micro_batch_size_per_gpu": RUN["batch_size"], "gradient_accumulation_steps": 1}))
    launch_cfg = tmp_path / "accelerate_zero3.yaml"
    launch_cfg.write_text(yaml.safe_dump({
        "compute_environment": "LOCAL_MACHINE", "distributed_type": "DEEPSPEED", "num_machines": 1, "num_processes": 1,
        "machine_rank": 0, "use_cpu": False, "deepspeed_config": {"deepspeed_config_file": str(ds_json), "zero3_init_flag": True}}))

    def launch_zero3(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(launch_cfg),
                               "--main_process_port", str(free_port()), "-m", "passlens_training.train", "--config", str(cfg), *extra],
                              env=launch_env(), capture_output=True, text=True, timeout=150)
        assert done.returncode == 0, done.stderr[-5000:]
        return done

    plain, _ = train_one_process(run_config(tmp_path / "plain", tiny_base, data, grad_accumulation=2))
    launch_zero3(run_config(tmp_path / "zero3", tiny_base, data, grad_accumulation=2))
    zero3 = json.loads((tmp_path / "zero3" / "run" / "passlens-training.json").read_text())["metrics"]
    assert zero3["steps"] == plain["steps"] == 6 and zero3["final_loss"] == pytest.approx(plain["final_loss"], abs=1e-5)
    assert [h["step"] for h in zero3["eval"]] == [h["step"] for h in plain["eval"]] == [3, 6]  # scored under ZeRO-3
    # Not to 1e-5: ZeRO-3 sums gradients in another order, and Adam's first steps turn a 1e-7
    # difference in a gradient near its eps (1e-8) into a 1e-5 one in the weight (measured 4e-4
    # after 6 steps). A step taken per batch instead of per 2 would differ by ~1e-2.
    pa, pb = load_value_model(tmp_path / "plain" / "run").state_dict(), load_value_model(tmp_path / "zero3" / "run").state_dict()
    assert max((pa[k] - pb[k]).abs().max().item() for k in pa) < 2e-3

    checkpoint = tmp_path / "zero3" / "run" / "checkpoints" / "step-2"
    state = json.loads((checkpoint / STATE_FILE).read_text())
    assert state == {"step": 2, "micro_batches_per_step": 2, "num_processes": 1, "format": "deepspeed"}
    copy_checkpoint(tmp_path / "zero3" / "run", 2, tmp_path / "resumed")
    (tmp_path / "resumed" / "run" / "checkpoints" / "step-2" / STATE_FILE).write_text(json.dumps({**state, "num_processes": 2}))
    done = launch_zero3(run_config(tmp_path / "resumed", tiny_base, data, grad_accumulation=2), "--resume")
    assert "at optimizer step 2 (world size 2 then, 1 now; 2 batches per step)" in done.stdout
    assert (tmp_path / "resumed" / "run" / "checkpoints" / "step-2" / "universal" / "pytorch_model" / "zero").is_dir()
    assert_same_weights(tmp_path / "zero3" / "run", tmp_path / "resumed" / "run")


@pytest.mark.parametrize("name", ["accelerate_deepspeed_phi4.yaml", "accelerate_fsdp2_phi4.yaml"])
def test_phi4_launch_configs_load_in_accelerate_and_name_what_exists(name):
    from accelerate.commands.config.config_args import load_config_from_file
    import transformers

    configs = TRAINING_DIR / "passlens_training" / "configs"
    launch = load_config_from_file(str(configs / name))  # unknown keys are a TypeError here
    assert (launch.num_machines, launch.num_processes, launch.machine_rank, launch.use_cpu) == (1, 4, 0, False)
    if launch.deepspeed_config:
        # The path is the one `accelerate launch` resolves from the repository root.
        ds = json.loads((TRAINING_DIR.parent / launch.deepspeed_config["deepspeed_config_file"]).read_text())
        assert ds["zero_optimization"]["stage"] == 3 and ds["gradient_accumulation_steps"] == 1  # train.py accumulates
        assert launch.deepspeed_config["deepspeed_multinode_launcher"] == "standard"
    else:
        assert launch.fsdp_config["fsdp_version"] == 2
        assert hasattr(transformers.models.phi3.modeling_phi3, launch.fsdp_config["fsdp_transformer_layer_cls_to_wrap"])
