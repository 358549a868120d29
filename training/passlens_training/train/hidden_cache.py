"""Training the trainable top of a value model on cached hidden states: exact, and affordable
on a CPU.

With the last n decoder layers (+ final norm + head) trainable and the rest frozen, the
frozen layers turn a rollout's tokens into the same hidden states in every epoch. So they run
once per distinct sequence (`build`), the hidden states entering the first trainable layer
are stored, and every training step runs only the trainable layers on them
(`HiddenStateCache.logits`): the same logits and gradients as the whole model (within float
rounding; tests/test_hidden_cache.py compares both), at n/L of the forward's cost and without
the frozen layers in memory traffic. On Qwen2.5-Coder-0.5B with 4 of 24 layers trainable
that is a sixth of the forward.

The bottom layers are skipped by swapping them for pass-through modules inside the model's
own forward (`frozen_layers_skipped`), so rotary positions, masks and each layer's attention
type come from transformers as usual, for any supported architecture.

Storage, a folder: `hidden.f32` (float32 rows of `hidden_size`, appended) and `index.json`
(`{"format", "first_layer", "hidden_size", "sequences": {key: [first_row, n_rows]}}`, keyed
by a hash of the token ids, so rollouts with the same tokens share rows). The index is
replaced whole after each batch's rows are on disk, and rows past the index's end (a killed
build) are cut off on resume. On opening, the first stored sequence is recomputed with the
current model: a cache made from other weights or another layer is rebuilt, not trusted.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .value_data import ValueExample, collate

FORMAT = 1
INDEX = "index.json"
ROWS = "hidden.f32"
# Recomputed rows of the check sequence may differ from the stored ones by float rounding only.
STALE_TOLERANCE = 1e-4


class _PassThrough(nn.Module):
    """Stands in for a decoder layer: returns its input hidden states unchanged."""

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


@contextlib.contextmanager
def frozen_layers_skipped(model: nn.Module, first_layer: int) -> Iterator[None]:
    """Inside, layers [0, first_layer) of the model's decoder pass their input through, so a
    forward given `inputs_embeds` = the hidden states entering `first_layer` runs only the
    layers from there on. Backward passes started inside or after need nothing of the
    swapped layers."""
    layers = model.model.layers
    originals = [layers[i] for i in range(first_layer)]
    try:
        for i in range(first_layer):
            layers[i] = _PassThrough()
        yield
    finally:
        for i, layer in enumerate(originals):
            layers[i] = layer


def sequence_key(input_ids: Sequence[int]) -> str:
    return hashlib.sha1(np.asarray(input_ids, dtype=np.int64).tobytes()).hexdigest()[:24]


@torch.no_grad()
def hidden_states_entering(model: nn.Module, first_layer: int, examples: Sequence[ValueExample], pad_id: int,
                           device) -> list[np.ndarray]:
    """The hidden states entering decoder layer `first_layer` for each example's whole
    sequence (prompt + generated), [len(input_ids), hidden] float32 each. The layers from
    `first_layer` on are skipped: nothing above the capture point runs."""
    layers = model.model.layers
    if not 0 < first_layer < len(layers):
        raise ValueError(f"cached hidden states need frozen layers below a trainable one: first trainable layer "
                         f"{first_layer} of {len(layers)}")
    captured: list[torch.Tensor] = []

    def capture(_module, args, kwargs):
        captured.append((args[0] if args else kwargs["hidden_states"]).detach())

    batch = collate(examples, pad_id)
    originals = [layers[i] for i in range(first_layer, len(layers))]
    try:
        for i in range(first_layer, len(layers)):
            layers[i] = _PassThrough()
        handle = layers[first_layer].register_forward_pre_hook(capture, with_kwargs=True)
        model.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
        handle.remove()
    finally:
        for offset, layer in enumerate(originals):
            layers[first_layer + offset] = layer
    states = captured[0].float().cpu().numpy()
    return [states[i, :len(e.input_ids)].copy() for i, e in enumerate(examples)]


class HiddenStateCache:
    def __init__(self, folder: str | Path, first_layer: int, hidden_size: int):
        self.folder = Path(folder)
        self.first_layer, self.hidden_size = first_layer, hidden_size
        self.sequences: dict[str, list[int]] = {}
        self._rows: np.memmap | None = None

    # ------------------------------------------------------------ files

    @property
    def rows_file(self) -> Path:
        return self.folder / ROWS

    def _row_count(self) -> int:
        return sum(n for _, n in self.sequences.values())

    def _write_index(self) -> None:
        tmp = self.folder / (INDEX + ".tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "first_layer": self.first_layer, "hidden_size": self.hidden_size,
                                   "sequences": self.sequences}))
        os.replace(tmp, self.folder / INDEX)

    def _open_existing(self) -> bool:
        index_file = self.folder / INDEX
        if not index_file.is_file():
            return False
        index = json.loads(index_file.read_text())
        if (index.get("format"), index.get("first_layer"), index.get("hidden_size")) != (FORMAT, self.first_layer, self.hidden_size):
            return False
        self.sequences = {k: list(v) for k, v in index["sequences"].items()}
        size = self._row_count() * self.hidden_size * 4
        if not self.rows_file.is_file() or self.rows_file.stat().st_size < size:
            return False
        if self.rows_file.stat().st_size > size:  # rows of a batch whose index was never written
            with open(self.rows_file, "r+b") as fh:
                fh.truncate(size)
        return True

    def _append(self, keyed_rows: list[tuple[str, np.ndarray]]) -> None:
        start = self._row_count()
        with open(self.rows_file, "ab") as fh:
            for key, rows in keyed_rows:
                fh.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
                self.sequences[key] = [start, len(rows)]
                start += len(rows)
            fh.flush()
            os.fsync(fh.fileno())
        self._write_index()
        self._rows = None

    def rows(self, key: str) -> np.ndarray:
        if self._rows is None:
            self._rows = np.memmap(self.rows_file, dtype=np.float32, mode="r", shape=(self._row_count(), self.hidden_size))
        first, n = self.sequences[key]
        return self._rows[first:first + n]

    # ------------------------------------------------------------ build

    @classmethod
    def build(cls, folder: str | Path, model: nn.Module, first_layer: int, examples: Sequence[ValueExample], pad_id: int,
              device, *, batch_size: int = 4, progress: bool = True) -> "HiddenStateCache":
        """Opens the cache in `folder` and adds the sequences of `examples` it lacks (resumable)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        cache = cls(folder, first_layer, model.config.hidden_size)
        if cache._open_existing() and cache.sequences and not cache._matches(model, pad_id, device):
            print(f"[hidden-cache] {folder} was made from other weights or layers: rebuilding", flush=True)
            cache.sequences = {}
        if not cache.sequences:
            cache.check_file.unlink(missing_ok=True)
            cache.rows_file.unlink(missing_ok=True)
            cache.rows_file.touch()
            cache._write_index()
        todo: dict[str, ValueExample] = {}
        for e in examples:
            key = sequence_key(e.input_ids)
            if key not in cache.sequences:
                todo.setdefault(key, e)
        pending = sorted(todo.items(), key=lambda kv: len(kv[1].input_ids))  # similar lengths pad less
        from tqdm.auto import tqdm

        was_training = model.training
        model.eval()
        with tqdm(total=len(pending), desc=f"hidden states (layers 0-{first_layer - 1}, once)", unit="seq",
                  disable=not progress or not pending) as bar:
            for i in range(0, len(pending), batch_size):
                chunk = pending[i:i + batch_size]
                states = hidden_states_entering(model, first_layer, [e for _, e in chunk], pad_id, device)
                cache._append([(key, rows) for (key, _), rows in zip(chunk, states)])
                if not cache.check_file.is_file():
                    cache.check_file.write_text(json.dumps({"input_ids": list(chunk[0][1].input_ids)}))
                bar.update(len(chunk))
        model.train(was_training)
        return cache

    @property
    def check_file(self) -> Path:
        return self.folder / "check.json"

    def _matches(self, model: nn.Module, pad_id: int, device) -> bool:
        """Recomputes the sequence kept in check.json (the first one stored) with `model`."""
        if not self.check_file.is_file():
            return False
        ids = json.loads(self.check_file.read_text())["input_ids"]
        if sequence_key(ids) not in self.sequences:
            return False
        fresh = hidden_states_entering(model, self.first_layer, [ValueExample("check", "check", ids, False, 0, 0)],
                                       pad_id, device)[0]
        stored = self.rows(sequence_key(ids))
        return fresh.shape == stored.shape and float(np.abs(fresh - stored).max()) <= STALE_TOLERANCE

    # ------------------------------------------------------------ training

    def logits(self, model: nn.Module, examples: Sequence[ValueExample], pad_id: int, cfg, device) -> tuple[torch.Tensor, dict]:
        """trainer.batch_logits through the cache: value logits [B, T] of the whole sequences,
        from the cached hidden states through the trainable layers only, and the batch
        (labels, token_mask, weights) they line up with. `cfg`: the TrainConfig (include_prompt)."""
        batch = {k: v.to(device) for k, v in self.batch(examples, pad_id, cfg.include_prompt).items()}
        with frozen_layers_skipped(model, self.first_layer):
            out = model(inputs_embeds=batch["inputs_embeds"], attention_mask=batch["attention_mask"])
        return out.logits.squeeze(-1), batch

    def batch(self, examples: Sequence[ValueExample], pad_id: int, include_prompt: bool) -> dict[str, torch.Tensor]:
        """`collate`'s batch plus `inputs_embeds` [B, T, hidden]: the cached rows, zero-padded."""
        batch = collate(examples, pad_id, include_prompt)
        embeds = torch.zeros(*batch["input_ids"].shape, self.hidden_size)
        for i, e in enumerate(examples):
            embeds[i, :len(e.input_ids)] = torch.from_numpy(np.array(self.rows(sequence_key(e.input_ids))))
        batch["inputs_embeds"] = embeds
        return batch


