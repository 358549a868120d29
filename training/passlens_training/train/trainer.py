"""Fine-tune the value head (paper §3.3): BCE-with-logits between every generated token's output
and its rollout's label, Adam, last N layers + head trainable, accelerate for CPU/GPU/DDP/FSDP/DeepSpeed.

    python -m passlens_training.train --config configs/tiny-cpu.yaml [--resume]
    accelerate launch --config_file configs/accelerate_deepspeed_phi4.yaml -m passlens_training.train --config configs/paper-phi4.yaml
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import itertools
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
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


def process_batches(batches: list[list[int]], process_index: int, num_processes: int) -> list[list[int]]:
    """This process's share; wraps around so every process runs as many batches (DDP needs it)."""
    per_process = math.ceil(len(batches) / num_processes)
    return [batches[(process_index + i * num_processes) % len(batches)] for i in range(per_process)]


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
def evaluate_examples(model, examples: Sequence[ValueExample], pad_id: int, batch_size: int, device,
                      special_ids: Sequence[int] = ()) -> dict:
    model.eval()
    scored = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        batch = collate(chunk, pad_id)
        values = token_values(model, batch["input_ids"].to(device), batch["attention_mask"].to(device)).cpu()
        for row, e in enumerate(chunk):
            vals = values[row, e.n_prompt:len(e.input_ids)].tolist()
            rank = ranking_index(e.input_ids[e.n_prompt:], special_ids)
            scored.append(ScoredRollout(e.problem_id, e.rollout_id, e.label, tuple(vals), e.code_start, rank))
    model.train()
    return compute_metrics(scored)


def train(cfg: TrainConfig, resume: bool = False, config_path: str | None = None) -> dict:
    out = Path(cfg.output_dir)
    accelerator = Accelerator(mixed_precision=_mixed_precision(cfg.mixed_precision), log_with="tensorboard", project_dir=str(out))
    set_seed(cfg.seed, deterministic=cfg.deterministic)
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    model = load_value_model(cfg.base_model)
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
        if cfg.lora or cfg.shared_prompt_rollouts or accelerator.num_processes > 1:
            raise ValueError("hidden_states_cache needs one process, no lora and shared_prompt_rollouts: 0 "
                             "(the cache holds the frozen layers' output for whole sequences)")
        forward = HiddenStateCache.build(cfg.hidden_states_cache, model, len(model.model.layers) - freeze_info["trainable_layers"],
                                         train_examples, pad_id, accelerator.device, batch_size=cfg.batch_size,
                                         progress=accelerator.is_local_main_process).logits
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)

    plan = [process_batches(epoch_batches(train_examples, cfg, e), accelerator.process_index, accelerator.num_processes)
            for e in range(cfg.epochs)]
    # optimizer steps at which each epoch ends
    epoch_ends = list(itertools.accumulate(math.ceil(len(batches) / cfg.grad_accumulation) for batches in plan))
    all_steps = epoch_ends[-1]
    total_steps = min(cfg.max_steps, all_steps) if cfg.max_steps else all_steps
    # Over all epochs' steps (not max_steps), so a run cut short by max_steps and resumed
    # follows the same learning-rate curve as an uncut one.
    scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=round(cfg.warmup_ratio * all_steps),
                              num_training_steps=all_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    # Not prepared: accelerate would step it once per process; saved with the checkpoints.
    accelerator.register_for_checkpointing(scheduler)
    step = 0
    ckpt_root = out / "checkpoints"
    if resume:
        latest = sorted(ckpt_root.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
        if not latest:
            raise FileNotFoundError(f"--resume: no checkpoints under {ckpt_root} (run without --resume first)")
        accelerator.load_state(str(latest[-1]))
        step = json.loads((latest[-1] / STATE_FILE).read_text())["step"]
        accelerator.print(f"resumed from {latest[-1]} at optimizer step {step}")

    accelerator.init_trackers("tensorboard", config={k: str(v) for k, v in dataclasses.asdict(cfg).items()})
    losses: list[float] = []
    history: list[dict] = []

    def checkpoint() -> None:
        target = ckpt_root / f"step-{step}"
        accelerator.save_state(str(target))
        if accelerator.is_main_process:
            (target / STATE_FILE).write_text(json.dumps({"step": step}))

    bar = tqdm(total=total_steps, initial=step, desc="train", disable=not accelerator.is_local_main_process)
    started = time.time()
    tokens_seen = 0
    model.train()
    while step < total_steps:
        epoch = bisect.bisect_right(epoch_ends, step)
        epoch_start = epoch_ends[epoch - 1] if epoch else 0
        batches = plan[epoch]
        first_batch = (step - epoch_start) * cfg.grad_accumulation
        for b in range(first_batch, len(batches)):
            logits, batch = forward(model, [train_examples[i] for i in batches[b]], pad_id, cfg, accelerator.device)
            loss = value_loss(logits, batch["labels"], batch["token_mask"], batch["weights"])
            accelerator.backward(loss / cfg.grad_accumulation)
            losses.append(loss.item())
            tokens_seen += int(batch["token_mask"].sum())
            if (b + 1) % cfg.grad_accumulation == 0 or b == len(batches) - 1:
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                bar.update(1)
                mean_loss = float(np.mean(losses[-cfg.grad_accumulation:]))
                if step % max(cfg.log_every_steps, 1) == 0 or step == total_steps:
                    accelerator.log({"train/loss": mean_loss, "train/lr": scheduler.get_last_lr()[0], "train/generated_tokens_per_s": tokens_seen / max(time.time() - started, 1e-9)}, step=step)
                    bar.set_postfix(loss=f"{mean_loss:.4f}")
                if cfg.save_every_steps and step % cfg.save_every_steps == 0:
                    checkpoint()
                if step >= total_steps or step == epoch_ends[epoch]:
                    break
        if eval_examples and accelerator.is_main_process:
            metrics = evaluate_examples(accelerator.unwrap_model(model), eval_examples, pad_id, cfg.batch_size,
                                        accelerator.device, tokenizer.all_special_ids)
            history.append({"step": step, "accuracy": metrics["imbalanced"]["accuracy"], "auroc": metrics["imbalanced"]["auroc"]})
            accelerator.log({"eval/accuracy": metrics["imbalanced"]["accuracy"] or 0.0}, step=step)
        checkpoint()
    bar.close()
    accelerator.wait_for_everyone()

    # every process takes part in gathering ZeRO-3 / FSDP shards
    state_dict = accelerator.get_state_dict(model) if not cfg.lora else None
    summary = {"final_loss": float(np.mean(losses[-cfg.grad_accumulation:])) if losses else None, "steps": step, "eval": history}
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
    print(json.dumps(summary))
