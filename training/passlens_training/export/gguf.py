"""Writes a Phi-3-architecture causal LM with a byte-level BPE tokenizer as one GGUF file,
the format llama.cpp's servers load:

    python -m passlens_training.export.gguf --checkpoint DIR --out FILE.gguf [--dtype f32|f16]

llama.cpp's own converter (`convert_hf_to_gguf.py`) refuses tokenizers it does not know by
hash, which every tokenizer this repository trains is; this writes the same GGUF keys
through the `gguf` package: architecture `phi3` (fused `qkv_proj` and `gate_up_proj` map
to `attn_qkv` and `ffn_up` unchanged), tokenizer model `gpt2` with the GPT-2
pre-tokenizer (what `tokenizers`' ByteLevel with its default regex does), special tokens
as control tokens, merges, end/pad ids and the chat template. llama.cpp stops at every
end-of-generation token it recognises by text (`<|end|>` and `<|endoftext|>`, Phi-4-mini's two).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _tokenizer_fields(checkpoint: Path) -> dict:
    data = json.loads((checkpoint / "tokenizer.json").read_text(encoding="utf-8"))
    model = data["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"{checkpoint}/tokenizer.json is a {model.get('type')} tokenizer; GGUF export takes byte-level BPE")
    pre = data.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True) or pre.get("add_prefix_space"):
        raise ValueError(f"{checkpoint}/tokenizer.json pre-tokenizes with {pre}; GGUF export takes ByteLevel with the GPT-2 regex")
    vocab: dict[str, int] = dict(model["vocab"])
    special = {t["content"]: t["id"] for t in data.get("added_tokens", [])}
    vocab.update(special)
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    for text, index in vocab.items():
        tokens[index] = text
    types = [1] * size  # NORMAL
    for index in special.values():
        types[index] = 3  # CONTROL
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return {"tokens": tokens, "types": types, "merges": merges, "special": special}


def export_gguf(checkpoint: str | Path, out: str | Path, dtype: str = "f32") -> Path:
    import gguf
    import torch
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig
    from safetensors.torch import load_file

    checkpoint, out = Path(checkpoint), Path(out)
    config = AutoConfig.from_pretrained(checkpoint)
    if config.architectures != ["Phi3ForCausalLM"]:
        raise ValueError(f"{checkpoint} is a {config.architectures}; GGUF export takes a Phi3ForCausalLM checkpoint")
    if dtype not in ("f32", "f16"):
        raise ValueError(f"dtype must be f32 or f16, got {dtype!r}")
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"rope type {rope.get('rope_type')} is not supported by this GGUF export (plain rotary only)")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    generation = GenerationConfig.from_pretrained(checkpoint)
    fields = _tokenizer_fields(checkpoint)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads

    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.PHI3])
    writer.add_name(checkpoint.name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_rope_scaling_orig_ctx_len(getattr(config, "original_max_position_embeddings", config.max_position_embeddings))
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(int(head_dim * rope.get("partial_rotary_factor", 1.0)))
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(fields["tokens"])
    writer.add_token_types(fields["types"])
    writer.add_token_merges(fields["merges"])
    eos = generation.eos_token_id if generation.eos_token_id is not None else tokenizer.eos_token_id
    eos_ids = eos if isinstance(eos, list) else [eos]
    # llama.cpp's own stop token: the first of the generation config's end ids (<|end|> for
    # Phi-4-mini); the others are end-of-generation tokens it knows by their text.
    writer.add_eos_token_id(int(eos_ids[0]))
    if tokenizer.pad_token_id is not None:
        writer.add_pad_token_id(int(tokenizer.pad_token_id))
    writer.add_add_bos_token(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.PHI3, config.num_hidden_layers)
    weights = {}
    for file in sorted(checkpoint.glob("*.safetensors")):
        weights.update(load_file(file))
    if "lm_head.weight" not in weights and getattr(config, "tie_word_embeddings", False):
        weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    for name, tensor in weights.items():
        base, _, suffix = name.rpartition(".")
        mapped = names.get_name(base)
        if mapped is None:
            raise ValueError(f"no GGUF name for the tensor {name}")
        array = tensor.to(torch.float32).numpy()
        # Norm weights stay f32 (llama.cpp's converters keep 1-D tensors in f32).
        if dtype == "f16" and array.ndim > 1:
            array = array.astype(np.float16)
        writer.add_tensor(f"{mapped}.{suffix}", array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passlens_training.export.gguf", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="Hugging Face Phi3ForCausalLM folder")
    parser.add_argument("--out", required=True, help="the .gguf file to write")
    parser.add_argument("--dtype", choices=("f32", "f16"), default="f32")
    args = parser.parse_args(argv)
    try:
        path = export_gguf(args.checkpoint, args.out, args.dtype)
    except ValueError as err:
        print(f"export gguf: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"gguf": str(path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
