"""Rollout records → token sequences for the value head: input_ids = prompt_token_ids +
token_ids, a 0/1 label, and a mask of the tokens the loss sees."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence


@dataclass
class ValueExample:
    rollout_id: str
    problem_id: str
    input_ids: list[int]
    label: bool
    n_prompt: int  # prompt tokens kept (after left truncation)
    code_start: int
    weight: int = 1  # identical rollouts merged into this one (merge_duplicates)

    @property
    def prompt_key(self) -> tuple[int, ...]:
        """The prompt tokens, hashable: rollouts with equal keys can share one prompt pass."""
        return tuple(self.input_ids[:self.n_prompt])


def to_example(rec: dict, max_length: int) -> ValueExample | None:
    """None when the generated tokens alone exceed max_length (nothing sensible to keep)."""
    gen = list(rec["token_ids"])
    if not gen or len(gen) > max_length:
        return None
    prompt = list(rec["prompt_token_ids"])[-(max_length - len(gen)):] if max_length > len(gen) else []
    return ValueExample(rec["rollout_id"], rec["problem_id"], prompt + gen, bool(rec["label"]), len(prompt), int(rec.get("code_start") or 0))


def merge_duplicates(examples: Sequence[ValueExample]) -> list[ValueExample]:
    """One example per distinct (tokens, label), weighted by how often it occurs.

    Sampled rollouts of short programs repeat a lot (5 of 6 on the micro problems), and the
    balanced variant repeats the minority label on purpose. A weighted example gives the
    same loss as its copies, at the cost of one."""
    merged: dict[tuple, ValueExample] = {}
    for e in examples:
        key = (tuple(e.input_ids), e.n_prompt, e.label)
        first = merged.get(key)
        merged[key] = e if first is None else dataclasses.replace(first, weight=first.weight + e.weight)
    return list(merged.values())


def collate(examples: Sequence[ValueExample], pad_id: int, include_prompt: bool = False) -> dict[str, torch.Tensor]:
    """Right-padded batch; token_mask marks generated tokens (and prompt tokens when include_prompt)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(examples), width), dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.bool)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        attn[i, :n] = 1
        mask[i, 0 if include_prompt else e.n_prompt:n] = True
    labels = torch.tensor([float(e.label) for e in examples])
    return {"input_ids": ids, "attention_mask": attn, "token_mask": mask, "labels": labels, "weights": _weights(examples)}


def shared_prompt_batches(examples: Sequence[ValueExample], batch_size: int, rollouts_per_prompt: int,
                          rng: random.Random) -> list[list[int]]:
    """One epoch's batches (lists of example indices) in which rollouts come in chunks of up
    to `rollouts_per_prompt` that share one prompt, so the prompt is run once per chunk.

    A problem's 36 rollouts all start from the same prompt, and the prompt is most of each
    sequence; chunks keep several problems in a batch so its gradient is not one problem's."""
    if not 1 <= rollouts_per_prompt <= batch_size:
        raise ValueError(f"rollouts_per_prompt must be between 1 and batch_size ({batch_size}), got {rollouts_per_prompt}")
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(e.prompt_key, []).append(i)
    chunks: list[list[int]] = []
    for members in groups.values():
        members = members[:]
        rng.shuffle(members)
        chunks += [members[i:i + rollouts_per_prompt] for i in range(0, len(members), rollouts_per_prompt)]
    rng.shuffle(chunks)
    batches: list[list[int]] = [[]]
    for chunk in chunks:
        if len(batches[-1]) + len(chunk) > batch_size:
            batches.append([])
        batches[-1].extend(chunk)
    return batches


def collate_shared_prompt(examples: Sequence[ValueExample], pad_id: int) -> dict[str, torch.Tensor]:
    """A batch whose rows share prompts: each distinct prompt once (right-padded), and per row
    its prompt's index (`owner`) and its generated tokens (right-padded)."""
    prompt_index: dict[tuple[int, ...], int] = {}
    owner = [prompt_index.setdefault(e.prompt_key, len(prompt_index)) for e in examples]
    prompt_ids, prompt_mask = _right_padded(list(prompt_index), pad_id)
    gen_ids, gen_mask = _right_padded([e.input_ids[e.n_prompt:] for e in examples], pad_id)
    return {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "owner": torch.tensor(owner),
            "gen_ids": gen_ids, "gen_mask": gen_mask, "labels": torch.tensor([float(e.label) for e in examples]),
            "weights": _weights(examples)}


def _weights(examples: Sequence[ValueExample]) -> torch.Tensor:
    return torch.tensor([float(e.weight) for e in examples])


def _right_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as one right-padded [N, longest] tensor and its 0/1 mask."""
    tensors = [torch.tensor(r, dtype=torch.long) for r in rows]
    ids = pad_sequence(tensors, batch_first=True, padding_value=pad_id)
    mask = pad_sequence([torch.ones_like(t) for t in tensors], batch_first=True, padding_value=0)
    return ids, mask
