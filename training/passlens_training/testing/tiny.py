"""Small Phi-3-architecture models and byte-level BPE tokenizers built in code.

Tests, the micro reproduction and the extension's fixtures use these instead of
downloaded weights: the same classes and file layout as Phi-4-mini, a few layers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import Phi3Config, PreTrainedTokenizerFast

# Phi-4-mini's chat markers; the tiny tokenizers keep them as single special tokens.
SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)

# A little Python and prose so a tokenizer built without a corpus still covers code.
DEFAULT_CORPUS = [
    "def solve(nums):\n    total = 0\n    for x in nums:\n        total += x\n    return total\n",
    "n = int(input())\nprint(sum(map(int, input().split())))\n",
    "First, read the input. Then describe a solution and write the code in one python block.\n",
    "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n```\n",
    "Unicode: café naïve 你好 🙂 — tabs\tand spaces.\n",
]


def train_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Byte-level BPE (like Phi-4's), trained on `corpus`, with the chat template set."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus or DEFAULT_CORPUS), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_phi3_config(
    vocab_size: int,
    *,
    num_layers: int = 2,
    hidden_size: int = 64,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int | None = None,
    max_positions: int = 2048,
    eos_token_id: int = 0,
    pad_token_id: int = 0,
) -> Phi3Config:
    """A Phi-3 config of Phi-4-mini's shape family (GQA, rotary, SiLU MLP), tiny."""
    return Phi3Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_positions,
        original_max_position_embeddings=max_positions,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        tie_word_embeddings=False,
    )


def tiny_decoder_config(model_type: str, vocab_size: int, *, num_layers: int = 2, hidden_size: int = 64,
                        num_heads: int = 4, num_kv_heads: int = 2, max_positions: int = 2048, eos_token_id: int = 0,
                        pad_token_id: int = 0):
    """A tiny config of any supported critic architecture (`phi3`, `qwen2`, `llama`), each with
    its family's traits: Qwen2's q/k/v biases, Llama's and Qwen2's tied embeddings."""
    if model_type == "phi3":
        return tiny_phi3_config(vocab_size, num_layers=num_layers, hidden_size=hidden_size, num_heads=num_heads,
                                num_kv_heads=num_kv_heads, max_positions=max_positions, eos_token_id=eos_token_id,
                                pad_token_id=pad_token_id)
    from transformers import LlamaConfig, Qwen2Config

    classes = {"qwen2": Qwen2Config, "llama": LlamaConfig}
    if model_type not in classes:
        raise ValueError(f"no tiny config for '{model_type}'; known: phi3, {', '.join(classes)}")
    return classes[model_type](
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=4 * hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=num_kv_heads, max_position_embeddings=max_positions,
        bos_token_id=eos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id, tie_word_embeddings=True,
    )


def save_tiny_causal_lm(out_dir: str | Path, *, seed: int = 0, corpus: Iterable[str] | None = None, **config_kwargs) -> Path:
    """Writes a random tiny Phi3ForCausalLM with its tokenizer in Hugging Face layout."""
    import torch
    from transformers import Phi3ForCausalLM

    out = Path(out_dir)
    tokenizer = train_tokenizer(corpus)
    config = tiny_phi3_config(
        len(tokenizer), eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **config_kwargs
    )
    torch.manual_seed(seed)
    model = Phi3ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
