"""Scores rollouts with a value model whose parameters are sharded over the processes of an
`accelerate launch`, as FSDP and ZeRO-3 hold them, on CPU (gloo):

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 \\
        -m passlens_training.testing.sharded_eval --sharding zero3 --checkpoint DIR --data FILE --out scores.json

accelerate 1.15 turns on neither FSDP nor DeepSpeed for several processes without an
accelerator device (on CPU its processes fall back to plain gloo data parallelism), so this
shards the model itself, with torch's FSDP2 (`fully_shard` on every decoder layer, then the
root: what accelerate's FSDP2 plugin does on GPUs) or DeepSpeed ZeRO-3 (every parameter
partitioned, gathered by hooks for each forward), then runs the trainer's own scoring.
`--main-process-only` scores the way `train` did before it evaluated on every rank: rank 0
alone, while the others wait at a barrier.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs
from transformers import AutoTokenizer

from ..records import rollout_files
from ..train.model import load_value_model
from ..train.trainer import load_examples, score_examples


def shard(model, sharding: str):
    """The model to run, its parameters sharded over the process group, how many parameter
    elements this rank holds, and what releases the sharding before the group goes."""
    if sharding == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model, sum(p.to_local().numel() for p in model.parameters()), lambda: None
    import deepspeed

    # Threshold 0: even this tiny model's parameters are partitioned, none kept whole on every rank.
    engine, *_ = deepspeed.initialize(model=model, config={
        "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0}, "train_micro_batch_size_per_gpu": 1})
    return engine.module, sum(p.ds_tensor.numel() for p in engine.module.parameters()), engine.destroy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sharding", choices=["fsdp2", "zero3"], required=True)
    ap.add_argument("--checkpoint", required=True, help="a value-model folder")
    ap.add_argument("--data", required=True, nargs="+", help="rollout shard files")
    ap.add_argument("--out", required=True, help="JSON written by rank 0: per-rollout values and the shard sizes")
    ap.add_argument("--batch-size", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--main-process-only", action="store_true")
    ap.add_argument("--collective-timeout-s", type=float, default=600, help="gloo gives up on a collective after this long")
    args = ap.parse_args()

    accelerator = Accelerator(kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=args.collective_timeout_s))])
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    model = load_value_model(args.checkpoint)
    full_numel = sum(p.numel() for p in model.parameters())
    model, local_numel, release = shard(model, args.sharding)
    examples = load_examples(rollout_files(args.data), args.max_length)
    scoring = dict(pad_id=tokenizer.pad_token_id, batch_size=args.batch_size, device=accelerator.device,
                   special_ids=tokenizer.all_special_ids)
    if args.main_process_only:
        scored = None
        if accelerator.is_main_process:
            print("rank 0 scores alone", flush=True)
            scored = score_examples(model, examples, **scoring)
        accelerator.wait_for_everyone()
    else:
        scored = score_examples(model, examples, process_index=accelerator.process_index,
                                num_processes=accelerator.num_processes, **scoring)
    if accelerator.is_main_process:
        Path(args.out).write_text(json.dumps({
            "num_processes": accelerator.num_processes, "full_numel": full_numel, "rank0_local_numel": local_numel,
            "rollouts": [{"rollout_id": r.rollout_id, "values": list(r.values), "rank_index": r.rank_index} for r in scored]}))
    # Every rank past its last collective before any tears the group down: a rank that left
    # early closed gloo's connections under the other's work, which then aborted ("terminate
    # called without an active exception", seen once in CI under ZeRO-3).
    accelerator.wait_for_everyone()
    release()
    accelerator.end_training()


if __name__ == "__main__":
    main()
