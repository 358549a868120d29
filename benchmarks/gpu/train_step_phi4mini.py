"""A few value-head training steps with a Phi-4-mini-shaped random model (bf16, last 12 of 32
layers + head trainable) to size real runs: prints tokens/s and peak GPU memory.

    python benchmarks/gpu/train_step_phi4mini.py [--steps 6] [--batch-size 4] [--seq-len 2048]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import Phi3Config

from passlens_training.train.model import freeze_all_but_last, value_loss, value_model_from_config


def phi4_mini_config() -> Phi3Config:
    # microsoft/Phi-4-mini-instruct's shape (random weights; no hub access on the device machine)
    return Phi3Config(vocab_size=200064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                      num_attention_heads=24, num_key_value_heads=8, max_position_embeddings=131072,
                      original_max_position_embeddings=4096, partial_rotary_factor=0.75, tie_word_embeddings=True,
                      pad_token_id=199999, eos_token_id=199999, bos_token_id=199999)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--trainable-layers", type=int, default=12)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    args = ap.parse_args()
    assert torch.cuda.is_available(), "needs a CUDA GPU"
    device = "cuda"
    with torch.device(device):  # initialised on the GPU: 3.8B random weights take minutes on CPU
        model = value_model_from_config(phi4_mini_config(), seed=0).to(dtype=torch.bfloat16)
    info = freeze_all_but_last(model, args.trainable_layers)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    gen = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(0, 200000, (args.batch_size, args.seq_len), generator=gen).to(device)
    attn = torch.ones_like(ids)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[:, args.prompt_len:] = True
    labels = torch.randint(0, 2, (args.batch_size,), generator=gen).float().to(device)
    print(f"parameters: {info['total'] / 1e9:.2f}B, trainable {info['trainable'] / 1e9:.2f}B ({args.trainable_layers} layers + norm + head)")
    torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(args.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = value_loss(model(input_ids=ids, attention_mask=attn).logits, labels, mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        print(f"step {step}: loss {loss.item():.4f}, {times[-1]:.3f}s")
    steady = times[1:] or times
    tokens = args.batch_size * args.seq_len
    print(f"{torch.cuda.get_device_name()}: batch {args.batch_size} x {args.seq_len} tokens, "
          f"{tokens / (sum(steady) / len(steady)):.0f} tokens/s (steps after the first), "
          f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
