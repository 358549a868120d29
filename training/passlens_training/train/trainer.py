"""Fine-tune the value head (paper §3.3): BCE-with-logits between every generated token's output
and its rollout's label, Adam, last N layers + head trainable, accelerate for CPU/GPU/DDP/FSDP/DeepSpeed.

    python -m passlens_training.train --config configs/tiny-cpu.yaml [--resume]
    accelerate launch --config_file configs/accelerate_deepspeed_phi4.yaml -m passlens_training.train --config configs/paper-phi4.yaml

Several processes or nodes (DDP, FSDP2, DeepSpeed ZeRO-3), and resuming on another number of
them: docs/distributed-training.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import DistributedType, gather_object, set_seed
from tqdm.auto import tqdm
from transformers import AutoTokenizer, get_scheduler

from ..config import read_config
from ..contracts import ranking_index
from ..data.prompts import dataset_prompt_templates
from ..evaluate.metrics import compute_metrics
from ..records import ScoredRollout, read_rollouts, rollout_files
from .hidden_cache import HiddenStateCache
from .model import freeze_all_but_last, load_value_model, shared_prompt_logits, token_values, value_loss
from .value_data import ValueExample, collate, collate_shared_prompt, merge_duplicates, shared_prompt_batches, to_example

STATE_FILE = "passlens-train-state.json"
TRAINING_INFO = "passlens-training.json"
DEEPSPEED_TAG = "pytorch_model"  # the folder accelerate's save_state gives DeepSpeed's checkpoint


@dataclass
class TrainConfig:
    """The `train` section of an experiment YAML. Defaults are the paper's (§3.3): Adam at
    1e-4, 2 epochs, the last 12 layers and the head trainable, loss on generated tokens."""

    base_model: str  # a causal-LM or value checkpoint (folder or hub id) the critic starts from
    train_data: list[str]  # dataset folders (build-dataset output) or rollout shard files
    output_dir: str  # the trained critic (HF folder) + checkpoints/ + TensorBoard runs
    eval_data: list[str] = field(default_factory=list)  # dataset folders whose test shards are evaluated per epoch
    split: str | None = "train"  # which shards a dataset folder contributes
    balanced: bool = False  # a dataset folder contributes its balanced-train.jsonl instead of its train shards
    learning_rate: float = 1e-4
    # transformers' schedulers ("constant", "linear", "cosine", ...), after warmup_ratio of
    # the steps at a linear ramp. The paper gives Adam at 1e-4 and no schedule: constant.
    lr_scheduler: str = "constant"
    warmup_ratio: float = 0.0
    epochs: int = 2
    batch_size: int = 1
    grad_accumulation: int = 1
    max_length: int = 4096  # tokens per sequence; the prompt loses tokens from its left to fit
    trainable_layers: int = 12  # last decoder layers trained with the head (and the final norm)
    include_prompt: bool = False  # also put loss on prompt tokens
    lora: dict | None = None  # peft LoraConfig kwargs, e.g. {r: 16, lora_alpha: 32, target_modules: [qkv_proj, o_proj]}
    mixed_precision: str = "auto"  # auto → bf16 where supported, else no
    seed: int = 0
    save_every_steps: int = 0  # optimizer steps between checkpoints (0: end of each epoch only)
    log_every_steps: int = 10
    max_steps: int = 0  # optimizer steps; 0 = all epochs
    gradient_checkpointing: bool = False
    # Rows per batch that share a prompt, run once for all of them (0: every row runs its
    # whole sequence). Same loss and gradients; the saving is the prompt's share of the tokens.
    shared_prompt_rollouts: int = 0
    # Train on each distinct (rollout tokens, label) once, its loss weighted by its count: the
    # same objective per epoch, with fewer sequences to run when rollouts repeat.
    merge_duplicates: bool = False
    # torch's deterministic kernels: the shared-prompt pass's cache copy otherwise sums its
    # gradient in thread order, and a 1e-12 difference changed which features a micro critic
    # learned (held-out AUROC 0.74-0.92 from one config). CUDA also needs CUBLAS_WORKSPACE_CONFIG.
    deterministic: bool = False
    # A folder for the hidden states entering the first trainable layer, computed once by the
    # frozen layers; each step then runs only the trainable layers (exact; hidden_cache.py).
    # "" = off. Single-process runs without LoRA or shared_prompt_rollouts.
    hidden_states_cache: str = ""


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    section = dict(read_config(path).get("train") or {})
    section.update(overrides or {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{path}: unknown train keys {unknown}; known: {sorted(known)}")
    for key in ("train_data", "eval_data"):
        if isinstance(section.get(key), str):
            section[key] = [section[key]]
    try:
        return TrainConfig(**section)
    except TypeError as exc:
        raise ValueError(f"{path}: train section needs base_model, train_data and output_dir ({exc})") from exc


def train_files(cfg: TrainConfig) -> list[Path]:
    if cfg.balanced:
        return rollout_files([Path(p) / "balanced-train.jsonl" if Path(p).is_dir() else Path(p) for p in cfg.train_data])
    return rollout_files(cfg.train_data, cfg.split)


def load_examples(files: Sequence[Path], max_length: int) -> list[ValueExample]:
    examples = [e for e in (to_example(r, max_length) for r in read_rollouts(files)) if e is not None]
    if not examples:
        raise ValueError(f"no usable rollouts in {[str(f) for f in files]} (empty, or every generation longer than max_length)")
    return examples


def epoch_batches(examples: Sequence[ValueExample], cfg: TrainConfig, epoch: int) -> list[list[int]]:
    """The epoch's batches of example indices, a fixed function of (seed, epoch) so a resumed
    run sees the same batches."""
    rng = random.Random(cfg.seed * 1000 + epoch)
    if cfg.shared_prompt_rollouts:
        return shared_prompt_batches(examples, cfg.batch_size, cfg.shared_prompt_rollouts, rng)
    order = list(range(len(examples)))
    rng.shuffle(order)
    return [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]


def epoch_steps(examples: Sequence[ValueExample], cfg: TrainConfig, epoch: int, micro_batches_per_step: int) -> list[list[list[int]]]:
    """The epoch's optimizer steps, each `micro_batches_per_step` consecutive batches of
    `epoch_batches` (the epoch's last step may have fewer). Independent of how many processes
    run them: a run resumed on another world size takes the same steps."""
    batches = epoch_batches(examples, cfg, epoch)
    return [batches[i:i + micro_batches_per_step] for i in range(0, len(batches), micro_batches_per_step)]


def process_share(step_batches: list[list[int]], process_index: int, num_processes: int) -> list[tuple[list[int], bool]]:
    """This process's micro-batches of one optimizer step, each with whether it counts.

    Batches are dealt round-robin. DDP, FSDP and ZeRO-3 synchronise on every forward or
    backward, so every process must run as many micro-batches: one left short repeats the
    step's first batch as padding that does not count (its loss is multiplied by 0)."""
    per_process = math.ceil(len(step_batches) / num_processes)
    mine = step_batches[process_index::num_processes]
    return [(b, True) for b in mine] + [(step_batches[0], False)] * (per_process - len(mine))


def loss_token_count(examples: Iterable[ValueExample], include_prompt: bool) -> float:
    """The tokens the loss sees in `examples`, each example counted `weight` times."""
    return float(sum(e.weight * (len(e.input_ids) - (0 if include_prompt else e.n_prompt)) for e in examples))


def batch_logits(model, examples: Sequence[ValueExample], pad_id: int, cfg: TrainConfig, device) -> tuple[torch.Tensor, dict]:
    """Value logits [B, T] and the batch (labels, token_mask) they line up with."""
    if cfg.shared_prompt_rollouts:
        batch = {k: v.to(device) for k, v in collate_shared_prompt(examples, pad_id).items()}
        batch["token_mask"] = batch["gen_mask"].bool()
        return shared_prompt_logits(model, batch), batch
    batch = {k: v.to(device) for k, v in collate(examples, pad_id, cfg.include_prompt).items()}
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, batch


def _mixed_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


@torch.no_grad()
def score_examples(model, examples: Sequence[ValueExample], pad_id: int, batch_size: int, device,
                   special_ids: Sequence[int] = (), process_index: int = 0, num_processes: int = 1) -> list[ScoredRollout]:
    """`examples` scored by `model`, in order.

    With several processes every one of them must call this: each scores every
    `num_processes`-th batch and the scores are gathered. Under FSDP or ZeRO-3 a forward pass
    gathers the parameter shards of every rank, so a forward on one rank alone waits forever
    for the others; every rank runs as many passes (one left short repeats a batch and drops
    its scores)."""
    model.eval()
    starts = range(0, len(examples), batch_size)
    mine: list[tuple[int, ScoredRollout]] = []
    for k in range(math.ceil(len(starts) / num_processes)):
        j = process_index + k * num_processes
        start = starts[j] if j < len(starts) else 0
        chunk = examples[start:start + batch_size]
        batch = collate(chunk, pad_id)
        values = token_values(model, batch["input_ids"].to(device), batch["attention_mask"].to(device)).cpu()
        if j >= len(starts):
            continue
        for row, e in enumerate(chunk):
            vals = values[row, e.n_prompt:len(e.input_ids)].tolist()
            rank = ranking_index(e.input_ids[e.n_prompt:], special_ids)
            mine.append((start + row, ScoredRollout(e.problem_id, e.rollout_id, e.label, tuple(vals), e.code_start, rank)))
    model.train()
    scored = gather_object(mine) if num_processes > 1 else mine
    return [rollout for _, rollout in sorted(scored, key=lambda item: item[0])]


def checkpoint_format(accelerator: Accelerator) -> str:
    """What `save_state` writes: DeepSpeed's per-rank ZeRO partitions, FSDP's sharded or full
    state dict (torch.distributed.checkpoint, which re-shards on load), or the whole model and
    optimizer (one process, DDP)."""
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        return "deepspeed"
    if accelerator.distributed_type == DistributedType.FSDP:
        return "fsdp"
    return "full"


def latest_checkpoint(ckpt_root: Path) -> tuple[Path, dict]:
    found = sorted(ckpt_root.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    if not found:
        raise FileNotFoundError(f"--resume: no checkpoints under {ckpt_root} (run without --resume first)")
    return found[-1], json.loads((found[-1] / STATE_FILE).read_text())


def universal_deepspeed_checkpoint(checkpoint: Path, accelerator: Accelerator) -> Path:
    """A ZeRO checkpoint holds one optimizer partition per rank of the world that saved it, and
    DeepSpeed loads it on another world size only in its universal format. Converts it once (main
    process, DeepSpeed's `ds_to_universal`) into `checkpoint/universal/`, beside copies of
    accelerate's own files, and turns on `load_universal` for this run's engine; call before
    `accelerator.prepare`. The checkpoint folder must be on a filesystem every node sees."""
    target = checkpoint / "universal"
    if accelerator.is_main_process and not target.is_dir():
        partial = checkpoint / "universal.partial"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "deepspeed.checkpoint.ds_to_universal",
                        "--input_folder", str(checkpoint / DEEPSPEED_TAG), "--output_folder", str(partial / DEEPSPEED_TAG)],
                       check=True)
        for item in checkpoint.iterdir():
            if item.is_file():
                shutil.copy2(item, partial / item.name)
        partial.rename(target)
    accelerator.wait_for_everyone()
    accelerator.state.deepspeed_plugin.deepspeed_config.setdefault("checkpoint", {})["load_universal"] = True
    return target


def train(cfg: TrainConfig, resume: bool = False, config_path: str | None = None) -> dict:
    """Trains on every process of the launch. An optimizer step takes `grad_accumulation` ×
    (processes at the start of the run) batches of `epoch_batches`, dealt over the processes;
    its loss is the mean over all of the step's loss tokens. A run resumed on another number of
    processes keeps its step size, so it takes the same steps with the same data and
    learning-rate schedule (each process then runs more or fewer batches per step)."""
    out = Path(cfg.output_dir)
    accelerator = Accelerator(mixed_precision=_mixed_precision(cfg.mixed_precision), log_with="tensorboard", project_dir=str(out))
    world = accelerator.num_processes
    set_seed(cfg.seed, deterministic=cfg.deterministic)
    ckpt_root = out / "checkpoints"
    resume_from, state = latest_checkpoint(ckpt_root) if resume else (None, {})
    saved_format = state.get("format", checkpoint_format(accelerator))  # checkpoints before formats were recorded: as this launch
    if resume_from is not None and saved_format != checkpoint_format(accelerator):
        raise ValueError(f"{resume_from} was saved in the {saved_format} format and this launch saves {checkpoint_format(accelerator)}: "
                         "resume with the accelerate config of the run that saved it (any number of processes or machines)")
    micro_batches_per_step = state.get("micro_batches_per_step", cfg.grad_accumulation * world)
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    # fp32 master weights whatever the checkpoint stores (transformers loads a bf16 hub checkpoint
    # as bf16 by default): mixed_precision and DeepSpeed's bf16 compute in bf16 from them.
    model = load_value_model(cfg.base_model, torch_dtype=torch.float32)
    freeze_info = freeze_all_but_last(model, min(cfg.trainable_layers, len(model.model.layers)))
    if cfg.lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(task_type="TOKEN_CLS", **cfg.lora))
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if cfg.shared_prompt_rollouts and cfg.include_prompt:
        raise ValueError("shared_prompt_rollouts needs include_prompt: false (prompt tokens would get no loss of their own)")
    train_examples = load_examples(train_files(cfg), cfg.max_length)
    if cfg.merge_duplicates:
        before = len(train_examples)
        train_examples = merge_duplicates(train_examples)
        accelerator.print(f"merge_duplicates: {before} rollouts -> {len(train_examples)} distinct")
    eval_examples = load_examples(rollout_files(cfg.eval_data, "test"), cfg.max_length) if cfg.eval_data else []
    forward = batch_logits
    if cfg.hidden_states_cache:
        if (cfg.lora or cfg.shared_prompt_rollouts or world > 1
                or accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)):
            raise ValueError("hidden_states_cache needs one plain process (no DeepSpeed or FSDP), no lora and "
                             "shared_prompt_rollouts: 0 (the cache holds the frozen layers' output for whole sequences)")
        forward = HiddenStateCache.build(cfg.hidden_states_cache, model, len(model.model.layers) - freeze_info["trainable_layers"],
                                         train_examples, pad_id, accelerator.device, batch_size=cfg.batch_size,
                                         progress=accelerator.is_local_main_process).logits
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)

    plan = [(e, batches) for e in range(cfg.epochs) for batches in epoch_steps(train_examples, cfg, e, micro_batches_per_step)]
    all_steps = len(plan)
    total_steps = min(cfg.max_steps, all_steps) if cfg.max_steps else all_steps
    # Over all epochs' steps (not max_steps), so a run cut short by max_steps and resumed
    # follows the same learning-rate curve as an uncut one.
    scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=round(cfg.warmup_ratio * all_steps),
                              num_training_steps=all_steps)
    if resume_from is not None and saved_format == "deepspeed" and state["num_processes"] != world:
        resume_from = universal_deepspeed_checkpoint(resume_from, accelerator)
    model, optimizer = accelerator.prepare(model, optimizer)
    # Not prepared: accelerate would step it once per process; saved with the checkpoints.
    accelerator.register_for_checkpointing(scheduler)
    step = 0
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        step = state["step"]
        accelerator.print(f"resumed from {resume_from} at optimizer step {step} (world size {state.get('num_processes', world)} then, "
                          f"{world} now; {micro_batches_per_step} batches per step)")

    accelerator.init_trackers("tensorboard", config={k: str(v) for k, v in dataclasses.asdict(cfg).items()})
    step_loss: float | None = None
    history: list[dict] = []

    def checkpoint() -> None:
        target = ckpt_root / f"step-{step}"
        accelerator.save_state(str(target))
        if accelerator.is_main_process:
            (target / STATE_FILE).write_text(json.dumps({
                "step": step, "micro_batches_per_step": micro_batches_per_step, "num_processes": world,
                "format": checkpoint_format(accelerator)}))

    bar = tqdm(total=total_steps, initial=step, desc="train", disable=not accelerator.is_local_main_process)
    started = time.time()
    tokens_seen = 0
    model.train()
    while step < total_steps:
        epoch, step_batches = plan[step]
        share = process_share(step_batches, accelerator.process_index, world)
        token_count = loss_token_count((train_examples[i] for b in step_batches for i in b), cfg.include_prompt)
        local_loss = 0.0
        for k, (indices, counts) in enumerate(share):
            # DeepSpeed runs its optimizer step inside the backward that ends the accumulation.
            accelerator.sync_gradients = k == len(share) - 1
            logits, batch = forward(model, [train_examples[i] for i in indices], pad_id, cfg, accelerator.device)
            loss = value_loss(logits, batch["labels"], batch["token_mask"], batch["weights"], token_count) * float(counts)
            # DDP, FSDP and ZeRO average gradients over processes; the step's gradient is their sum.
            accelerator.backward(loss * world)
            local_loss += loss.item()
            tokens_seen += int(batch["token_mask"].sum()) if counts else 0
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        step += 1
        bar.update(1)
        step_loss = accelerator.reduce(torch.tensor(local_loss, device=accelerator.device), "sum").item()
        if step % max(cfg.log_every_steps, 1) == 0 or step == total_steps:
            accelerator.log({"train/loss": step_loss, "train/lr": scheduler.get_last_lr()[0],
                             "train/generated_tokens_per_s": tokens_seen / max(time.time() - started, 1e-9)}, step=step)
            bar.set_postfix(loss=f"{step_loss:.4f}")
        epoch_done = step == all_steps or plan[step][0] != epoch
        if eval_examples and (epoch_done or step == total_steps):
            metrics = compute_metrics(score_examples(accelerator.unwrap_model(model), eval_examples, pad_id, cfg.batch_size,
                                                     accelerator.device, tokenizer.all_special_ids, accelerator.process_index, world))
            history.append({"step": step, "accuracy": metrics["imbalanced"]["accuracy"], "auroc": metrics["imbalanced"]["auroc"]})
            accelerator.log({"eval/accuracy": metrics["imbalanced"]["accuracy"] or 0.0}, step=step)
        if epoch_done or step == total_steps or (cfg.save_every_steps and step % cfg.save_every_steps == 0):
            checkpoint()
    bar.close()
    accelerator.wait_for_everyone()

    # every process takes part in gathering ZeRO-3 / FSDP shards
    state_dict = accelerator.get_state_dict(model) if not cfg.lora else None
    summary = {"final_loss": step_loss, "steps": step, "eval": history}
    if accelerator.is_main_process:
        final = out  # the HF folder sits at output_dir's top (checkpoints/ and TensorBoard runs beside it)
        unwrapped = accelerator.unwrap_model(model)
        if cfg.lora:
            unwrapped = unwrapped.merge_and_unload()
        unwrapped.save_pretrained(final, state_dict=state_dict)
        tokenizer.save_pretrained(final)
        info = {"base_model": cfg.base_model, "config_file": config_path, "config": dataclasses.asdict(cfg),
                "data": {"train": [str(p) for p in train_files(cfg)], "variant": "balanced" if cfg.balanced else "imbalanced",
                         "n_train_rollouts": len(train_examples), "n_eval_rollouts": len(eval_examples)},
                "parameters": freeze_info, "metrics": summary,
                # what the rollouts were sampled with; export puts it in the bundle's manifest
                "prompt_templates": dataset_prompt_templates(cfg.train_data)}
        (final / TRAINING_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    # No rank tears the process group down while another still works in it (gloo aborts then).
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m passlens_training.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir/checkpoints")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a train key, e.g. --set max_steps=5")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    try:
        cfg = load_train_config(args.config, overrides)
        summary = train(cfg, resume=args.resume, config_path=args.config)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"train: {exc}") from exc
    if PartialState().is_main_process:
        print(json.dumps(summary))
