"""The value-head critic: a decoder whose LM head is replaced by one linear output per
token, read through a sigmoid as p(pass | tokens so far).

The checkpoint is a plain Hugging Face `*ForTokenClassification` with `num_labels=1`
(`Phi3ForTokenClassification` for the paper's Phi-4 critics; Qwen2 and Llama decoders too,
the architectures in `VALUE_ARCHITECTURES`, each tested), so transformers loads it as is and
vLLM can serve it as a pooling model (`token_classify`, which applies the sigmoid for a
single label). transformers' own token-classification loss is cross-entropy, wrong for one
label: use `value_loss`.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import transformers
from transformers import AutoConfig, Phi3Model, PretrainedConfig, PreTrainedModel
from transformers.integrations import is_deepspeed_zero3_enabled

# model_type -> the token-classification class the critic is built on. Only decoders whose
# whole path (training, scoring, export, the Node runtime) is tested are listed.
VALUE_ARCHITECTURES = {
    "phi3": "Phi3ForTokenClassification",
    "qwen2": "Qwen2ForTokenClassification",
    "llama": "LlamaForTokenClassification",
}
# A fresh head starts near p=0.5 for every token: large random logits would make the
# first steps fight the head's own noise instead of learning from the labels.
NEW_HEAD_STD = 1e-3


def cache_argument(forward: Callable) -> str:
    """The name under which `forward` takes a KV cache: transformers renamed `past_key_values`
    to `cache`, and a forward that takes **kwargs silently drops the name it does not know, so
    the cache would be ignored (measured on 5.17: chunked scoring off by 0.1)."""
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


@functools.cache
def _phi3_cache_argument() -> str:
    # Read off the installed transformers' Phi-3 model, once: a wrapper (DDP, peft) hides the
    # signature behind *args/**kwargs, and the batch loop should not inspect per call. Every
    # decoder of one transformers version takes the same name (test_model checks Qwen2, Llama).
    return cache_argument(Phi3Model.forward)


def cache_kwargs(cache) -> dict:
    """`{name: cache}` for a decoder forward of the installed transformers."""
    return {_phi3_cache_argument(): cache}


def value_class(model_type: str) -> type[PreTrainedModel]:
    """The `*ForTokenClassification` class of a decoder architecture the critic supports."""
    if model_type not in VALUE_ARCHITECTURES:
        raise ValueError(f"a '{model_type}' model cannot be a PassLens critic; the supported decoder architectures "
                         f"are {', '.join(VALUE_ARCHITECTURES)} (Phi-3/Phi-4, Qwen2/Qwen2.5, Llama/SmolLM2)")
    return getattr(transformers, VALUE_ARCHITECTURES[model_type])


def _as_value_config(config: PretrainedConfig) -> PretrainedConfig:
    """Sets the fields that make a decoder config a one-output value model."""
    config.num_labels = 1
    config.id2label = {0: "pass"}
    config.label2id = {"pass": 0}
    config.architectures = [VALUE_ARCHITECTURES[config.model_type]]
    if getattr(config, "classifier_dropout", None) is None:
        # GenericForTokenClassification falls back to 0.1 dropout on the head input;
        # the value head is trained without it (deterministic per-token targets).
        config.classifier_dropout = 0.0
    return config


def is_value_checkpoint(config) -> bool:
    return (VALUE_ARCHITECTURES.get(config.model_type) in (getattr(config, "architectures", None) or [])
            and config.num_labels == 1)


def _init_new_head(model: PreTrainedModel) -> None:
    gathered = contextlib.nullcontext()
    if is_deepspeed_zero3_enabled():
        # Loaded under ZeRO-3's zero.Init, each rank holds an empty placeholder of the head:
        # gather it, initialise on rank 0, and let DeepSpeed re-partition rank 0's values.
        import deepspeed

        gathered = deepspeed.zero.GatheredParameters(list(model.score.parameters()), modifier_rank=0)
    with gathered, torch.no_grad():
        model.score.weight.normal_(mean=0.0, std=NEW_HEAD_STD)
        if model.score.bias is not None:
            model.score.bias.zero_()


def load_value_model(name_or_path: str | Path, *, torch_dtype: torch.dtype | None = None) -> PreTrainedModel:
    """Loads a value model from a hub id or a local folder.

    A value checkpoint (saved by this package or `train`) loads with its trained head.
    A causal-LM checkpoint (e.g. microsoft/Phi-4-mini-instruct, or a Qwen2/Llama folder from
    data/pretrained.py) loads its backbone and gets a new head initialised small; its LM head
    weights are dropped.
    """
    name = str(name_or_path)
    try:
        config = AutoConfig.from_pretrained(name)
    except OSError as err:
        raise FileNotFoundError(
            f"cannot load a model config from '{name}': give a local folder with config.json "
            f"or a Hugging Face hub id ({err})"
        ) from err
    cls = value_class(config.model_type)
    from_value = is_value_checkpoint(config)
    config = _as_value_config(config)
    kwargs = {"config": config}
    if torch_dtype is not None:
        kwargs["dtype"] = torch_dtype
    model = cls.from_pretrained(name, **kwargs)
    if not from_value:
        _init_new_head(model)
    return model


def value_model_from_config(config: PretrainedConfig, *, seed: int | None = None) -> PreTrainedModel:
    """A randomly initialised value model (tiny configs for tests and fixtures)."""
    cls = value_class(config.model_type)
    config = _as_value_config(type(config).from_dict(config.to_dict()))
    if seed is not None:
        torch.manual_seed(seed)
    return cls(config)


def freeze_all_but_last(model: PreTrainedModel, n_layers: int) -> dict[str, int]:
    """Trains only the last `n_layers` decoder layers, the final norm and the value head
    (the paper fine-tunes the regression head plus the last 12 layers)."""
    layers = model.model.layers
    if not 0 <= n_layers <= len(layers):
        raise ValueError(f"n_layers must be between 0 and {len(layers)} (the model's decoder layers), got {n_layers}")
    for param in model.parameters():
        param.requires_grad_(False)
    trainable_modules = [model.model.norm, model.score, *list(layers)[len(layers) - n_layers:]]
    for module in trainable_modules:
        for param in module.parameters():
            param.requires_grad_(True)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "frozen": total - trainable, "total": total, "trainable_layers": n_layers}


def value_loss(logits: torch.Tensor, labels: torch.Tensor, token_mask: torch.Tensor,
               weights: torch.Tensor | None = None, token_count: float | None = None) -> torch.Tensor:
    """BCE-with-logits between every masked token's logit and its sequence's 0/1 label,
    averaged over masked tokens. logits [B,T] or [B,T,1], labels [B], token_mask [B,T].
    `weights` [B] counts each sequence that many times (merged duplicates). `token_count`
    replaces the batch's own (weighted) count of masked tokens as the divisor: the count of a
    whole optimizer step whose micro-batches are spread over processes, so that the step's
    gradient is the same however it is split."""
    if logits.dim() == 3:
        logits = logits.squeeze(-1)
    if logits.shape != token_mask.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and token_mask {tuple(token_mask.shape)} must have the same [batch, tokens] shape")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must be one per sequence, shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    mask = token_mask.to(torch.float32)
    if weights is not None:
        if weights.shape != labels.shape:
            raise ValueError(f"weights must be one per sequence, shape ({logits.shape[0]},), got {tuple(weights.shape)}")
        mask = mask * weights.to(mask)[:, None]
    targets = labels.to(torch.float32)[:, None].expand_as(mask)
    per_token = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")
    if token_count is None:
        token_count = mask.sum()
        if token_count == 0:
            raise ValueError("token_mask selects no tokens: nothing to train on")
    return (per_token * mask).sum() / token_count


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids counting only attended tokens, so left-padded rows start at 0."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def shared_prompt_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Value logits [B, T] of the generated tokens of a `collate_shared_prompt` batch: each
    distinct prompt runs once, its keys/values are copied to the rows that continue it, and
    the rows run their generated tokens on top. The same numbers as running every row's
    prompt + tokens whole, at a fraction of the cost when rows share prompts; gradients
    reach the prompt's layers through the copied cache."""
    from transformers import DynamicCache

    prompt_mask, owner, gen_mask = batch["prompt_mask"], batch["owner"], batch["gen_mask"]
    cache = DynamicCache()
    model(input_ids=batch["prompt_ids"], attention_mask=prompt_mask, use_cache=True, **cache_kwargs(cache))
    cache.batch_select_indices(owner)
    # Right-padded prompts: a row's tokens continue at its own prompt length; the prompt's
    # padding stays masked in the attention over the cache.
    positions = prompt_mask.sum(-1)[owner][:, None] + torch.arange(gen_mask.shape[1], device=gen_mask.device)[None, :]
    out = model(input_ids=batch["gen_ids"], attention_mask=torch.cat([prompt_mask[owner], gen_mask], dim=1),
                position_ids=positions, use_cache=True, **cache_kwargs(cache))
    return out.logits.squeeze(-1)


@torch.no_grad()
def token_values(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """p(pass) after each token, [B, T] float32 (padding positions carry junk; mask them)."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions_from_mask(attention_mask))
    return torch.sigmoid(out.logits.squeeze(-1).float())
