"""Test fixtures built in code (never downloaded), cached by an input hash.

    python -m passlens_training.fixtures critic-bundle OUT [--layers 2 --hidden 64 --seed 0 --dtype int8 ...]
        a tiny random value model + tokenizer exported to the critic bundle OUT; its
        PyTorch checkpoint is kept beside it in OUT.checkpoint (for reference values).
        Skipped when OUT was built from the same inputs.
    python -m passlens_training.fixtures critic-reference --checkpoint DIR < requests.json
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

HASH_FILE = "fixture-inputs.sha256"


def _source_digest() -> str:
    """The fixture changes when the code that builds it does."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("fixtures.py", "export.py", "model.py", "tiny.py", "prompt_templates.json"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


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
) -> Path:
    """Builds (or reuses) a tiny critic bundle at `out`; returns the checkpoint folder."""
    from importlib.metadata import version

    out = Path(out)
    checkpoint = out.with_name(out.name + ".checkpoint")
    inputs = json.dumps(
        {"layers": layers, "hidden": hidden, "heads": heads, "kv_heads": kv_heads, "seed": seed, "max_positions": max_positions, "dtypes": list(dtypes),
         "with_past": with_past, "source": _source_digest(), "torch": version("torch"), "transformers": version("transformers")},
        sort_keys=True,
    )
    input_hash = hashlib.sha256(inputs.encode()).hexdigest()
    hash_path = out / HASH_FILE
    if hash_path.is_file() and hash_path.read_text().strip() == input_hash and (checkpoint / "config.json").is_file():
        return checkpoint

    import torch

    from .export import build_bundle
    from .model import value_model_from_config
    from .tiny import tiny_phi3_config, train_tokenizer

    # Built beside the target and renamed into place, so a build interrupted (or run by
    # two test processes at once) never leaves half a fixture behind under the real name.
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    partial_checkpoint = partial.with_name(partial.name + ".checkpoint")
    for folder in (partial, partial_checkpoint):
        shutil.rmtree(folder, ignore_errors=True)
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
    build_bundle(partial_checkpoint, partial, dtypes=dtypes, with_past=with_past, base_model=f"passlens-tiny-random-{layers}x{hidden}")
    (partial / HASH_FILE).write_text(input_hash + "\n")
    for folder, final in ((partial_checkpoint, checkpoint), (partial, out)):
        shutil.rmtree(final, ignore_errors=True)
        folder.rename(final)
    return checkpoint


def reference_values(checkpoint: str | Path, sequences: list[list[int]]) -> list[list[float]]:
    """PyTorch values of each token id sequence, each scored alone (batch 1)."""
    import torch

    from .model import load_value_model, token_values

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
    parser = argparse.ArgumentParser(prog="python -m passlens_training.fixtures", description=__doc__.split("\n\n")[0])
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
    ref = sub.add_parser("critic-reference", help="PyTorch values for token ids read from stdin")
    ref.add_argument("--checkpoint", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.command == "critic-bundle":
        dtypes = tuple(dict.fromkeys(["fp32", *(args.dtype or ["int8", "int4"])]))
        checkpoint = critic_bundle_fixture(args.out, layers=args.layers, hidden=args.hidden, heads=args.heads,
                                           kv_heads=args.kv_heads, seed=args.seed, max_positions=args.max_positions, dtypes=dtypes, with_past=not args.no_past)
        print(json.dumps({"bundle": str(args.out), "checkpoint": str(checkpoint)}))
        return 0
    requests = json.load(sys.stdin)
    answers = [reference_scores(args.checkpoint, r["messages"], r["texts"], r.get("max_tokens")) for r in requests]
    json.dump(answers, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
