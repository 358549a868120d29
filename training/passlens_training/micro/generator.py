"""Trains the micro generator: a small Phi-3 causal LM, from scratch, on CPU.

Byte-level BPE tokenizer trained with `tokenizers` on the corpus (passlens_training.tiny),
Phi-3 config of Phi-4-mini's shape family (GQA, rotary, SiLU MLP), next-token loss on
the response tokens only (the prompt is read, never generated). Saved in Hugging Face
layout, so the dataset builder loads it like Phi-4-mini.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from .corpus import Example

END_MARKER = "<|end|>"


@dataclass
class GeneratorConfig:
    vocab_size: int = 1024
    layers: int = 4
    hidden_size: int = 128
    heads: int = 4
    kv_heads: int = 2
    max_positions: int = 1024
    steps: int = 400
    batch_size: int = 16
    lr: float = 3e-3
    warmup_steps: int = 20
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # "cuda" trains on a GPU (fp32, so a GPU world matches a CPU one in kind)


def _encode(tokenizer, example: Example) -> tuple[list[int], int]:
    prompt = tokenizer.apply_chat_template(example.messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(example.response + END_MARKER, add_special_tokens=False)["input_ids"]
    return prompt_ids + response_ids + [tokenizer.eos_token_id], len(prompt_ids)


def train_generator(examples: list[Example], out_dir: str | Path, cfg: GeneratorConfig, *, progress: bool = True) -> dict:
    """Trains tokenizer and model on `examples`; writes the HF folder; returns a summary."""
    import torch
    from tqdm import tqdm
    from transformers import Phi3ForCausalLM

    from ..testing.tiny import tiny_phi3_config, train_tokenizer

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    out = Path(out_dir)

    texts = [m["content"] for m in examples[0].messages] + [e.messages[-1]["content"] + "\n" + e.response for e in examples]
    tokenizer = train_tokenizer(texts, vocab_size=cfg.vocab_size)
    encoded = [_encode(tokenizer, e) for e in examples]
    longest = max(len(ids) for ids, _ in encoded)
    if longest > cfg.max_positions:
        raise ValueError(f"a corpus text has {longest} tokens > max_positions={cfg.max_positions}; raise generator.max_positions")

    config = tiny_phi3_config(
        len(tokenizer), num_layers=cfg.layers, hidden_size=cfg.hidden_size, num_heads=cfg.heads,
        num_kv_heads=cfg.kv_heads, max_positions=cfg.max_positions,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = Phi3ForCausalLM(config).to(cfg.device)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 10%
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    order: list[int] = []
    losses: list[float] = []
    bar = tqdm(range(cfg.steps), desc="generator", disable=not progress, unit="step")
    for step in bar:
        if len(order) < cfg.batch_size:
            order += rng.sample(range(len(encoded)), len(encoded))
        batch = [encoded[i] for i in order[: cfg.batch_size]]
        del order[: cfg.batch_size]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, (ids, n_prompt) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            labels[row, n_prompt: len(ids)] = torch.tensor(ids[n_prompt:])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = model(input_ids=input_ids.to(cfg.device), attention_mask=attention.to(cfg.device),
                     labels=labels.to(cfg.device)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")

    model.eval().cpu()
    end_id = tokenizer.convert_tokens_to_ids(END_MARKER)
    # Like Phi-4-mini: generation stops at <|end|> or <|endoftext|>.
    model.generation_config.eos_token_id = [end_id, tokenizer.eos_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"steps": cfg.steps, "final_loss": sum(losses[-20:]) / len(losses[-20:]), "n_examples": len(examples),
            "n_parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer),
            "longest_example_tokens": longest}
