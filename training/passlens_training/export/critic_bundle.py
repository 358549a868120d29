"""Exports a value-head checkpoint as a critic bundle and checks bundles against PyTorch.

    python -m passlens_training.export --checkpoint DIR --out BUNDLE [--dtype fp32|fp16|int8|int4 ...] [--no-past]
    python -m passlens_training.export --check BUNDLE [--checkpoint DIR]

A bundle is a folder: `passlens-critic.json` (manifest, format_version 1,
contracts/schemas/critic-manifest.schema.json), `model.onnx` (fp32; `model_fp16.onnx`,
`model_int8.onnx`, `model_int4.onnx` when asked for; each with `<name>.data` beside it when
its weights pass 1 GiB) and the tokenizer files. The graphs come from
`onnx_graph.export_decoder_onnx` and output the new tokens' keys/values only; the variants
are converted from the fp32 file, weight by weight.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from ..contracts import load_templates
from ..evaluate.calibrate import CALIBRATION_NAME, read_calibration
from ..source_digest import sha256_file
from .onnx_graph import CRITIC_VARIANT_BUILDERS, INLINE_LIMIT_BYTES, KvOutputs, data_path, export_decoder_onnx, head_dim, kv_input_names

FORMAT_VERSION = 1
MANIFEST_NAME = "passlens-critic.json"
TRAINING_SUMMARY_NAME = "passlens-training.json"
DTYPES = ("fp32", "fp16", "int8", "int4")
MODEL_FILES = {"fp32": "model.onnx", "fp16": "model_fp16.onnx", "int8": "model_int8.onnx", "int4": "model_int4.onnx"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
# Sample prefix recorded in the manifest with PyTorch's values, so a runtime can tell a
# graph that does not belong to this manifest from one that does.
SAMPLE_TEXT = "def solve(nums):\n    return sum(nums)\n"


# ---------------------------------------------------------------- bundle

def max_positions(config) -> int:
    """Longest context the graph is exact for. With longrope scaling the rotary factors
    switch beyond the original window, which the exported graph does not reproduce."""
    rope = getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type")) == "longrope" and getattr(config, "original_max_position_embeddings", None):
        return int(config.original_max_position_embeddings)
    return int(config.max_position_embeddings)


def _save_tokenizer(tokenizer, out: Path, chat_template: str) -> list[str]:
    tokenizer.save_pretrained(out)
    # transformers.js' AutoTokenizer reads the chat template from tokenizer_config.json only.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["chat_template"] = chat_template
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [name for name in TOKENIZER_FILES if (out / name).exists()]


def build_bundle(
    checkpoint: str | Path,
    out: str | Path,
    *,
    dtypes: tuple[str, ...] = ("fp32",),
    with_past: bool = True,
    base_model: str | None = None,
    inline_limit_bytes: int = INLINE_LIMIT_BYTES,
    kv_outputs: KvOutputs = "new",
    calibration: dict | None = None,
) -> dict:
    """Exports checkpoint (a value-head HF folder with its tokenizer) to a bundle folder;
    returns the manifest. `dtypes[0]` is the variant the runtime loads by default. A graph
    whose weights pass `inline_limit_bytes` keeps them in `<file>.data` beside it.
    kv_outputs="present" writes the graph layout of bundles made before "new" (tests of the
    runtime's support for them). The manifest's `calibration` is `calibration`, else the
    checkpoint's passlens-calibration.json (evaluate.calibrate), else null.

    Memory: one copy of the weights, the PyTorch model's; it is released before the
    variants are converted (they stream from the fp32 file)."""
    from transformers import AutoTokenizer

    from ..train.model import load_value_model, token_values

    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown or not dtypes:
        raise ValueError(f"unknown dtype {unknown or dtypes}; choose from {', '.join(DTYPES)}")
    checkpoint, out = Path(checkpoint), Path(out)
    if not (checkpoint / "config.json").is_file():
        raise FileNotFoundError(f"checkpoint folder '{checkpoint}' has no config.json; pass the folder `train` wrote (or a save_pretrained folder)")
    model = load_value_model(checkpoint, torch_dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    if not tokenizer.chat_template:
        raise ValueError(f"the tokenizer in '{checkpoint}' has no chat template; the critic's prompt needs one")
    if len(tokenizer) > model.config.vocab_size:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens but the model's vocabulary is {model.config.vocab_size}: they do not belong together")

    training = None
    summary_path = checkpoint / TRAINING_SUMMARY_NAME
    if summary_path.is_file():
        training = json.loads(summary_path.read_text(encoding="utf-8"))
    if calibration is None and (checkpoint / CALIBRATION_NAME).is_file():
        calibration = read_calibration(checkpoint / CALIBRATION_NAME)
    templates = (training or {}).get("prompt_templates") or load_templates()
    base = base_model or (training or {}).get("base_model") or getattr(model.config, "_name_or_path", "") or checkpoint.name

    out.mkdir(parents=True, exist_ok=True)
    for stale in [*MODEL_FILES.values(), MANIFEST_NAME]:
        for path in (out / stale, data_path(out / stale)):
            if path.exists():
                path.unlink()
    io = export_decoder_onnx(model, out / MODEL_FILES["fp32"], head="value", with_past=with_past, kv_outputs=kv_outputs,
                             inline_limit_bytes=inline_limit_bytes)
    tokenizer_files = _save_tokenizer(tokenizer, out, tokenizer.chat_template)
    sample_ids = tokenizer.encode(SAMPLE_TEXT, add_special_tokens=False)
    with torch.no_grad():
        sample_values = token_values(model, torch.tensor([sample_ids]))[0].tolist()
    config = model.config
    del model
    gc.collect()
    for dtype in dtypes:
        if dtype != "fp32":
            CRITIC_VARIANT_BUILDERS[dtype](out / MODEL_FILES["fp32"], out / MODEL_FILES[dtype], inline_limit_bytes=inline_limit_bytes)

    files = {}
    for dtype in dict.fromkeys(("fp32", *dtypes)):
        path = out / MODEL_FILES[dtype]
        files[dtype] = {"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
        data = path.with_name(path.name + ".data")
        if data.exists():
            files[dtype]["external_data"] = data.name
            files[dtype]["external_data_sha256"] = sha256_file(data)
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": "passlens-critic",
        "base_model": str(base),
        "architecture": {
            "model_type": config.model_type,
            "num_layers": config.num_hidden_layers,
            "num_attention_heads": config.num_attention_heads,
            "num_kv_heads": config.num_key_value_heads,
            "head_dim": head_dim(config),
            "hidden_size": config.hidden_size,
            "vocab_size": config.vocab_size,
            "max_positions": max_positions(config),
        },
        "onnx": {
            "inputs": io["inputs"],
            "outputs": io["outputs"],
            "past_key_values": with_past,
            "kv_dtype": "float32",
            "opset": io["opset"],
        },
        "dtype": dtypes[0],
        "files": files,
        "tokenizer": {
            "files": tokenizer_files,
            "size": len(tokenizer),
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "tokenizer_json_sha256": sha256_file(out / "tokenizer.json"),
        },
        "prompt": {
            "system": templates["system"],
            "standard_input": templates["standard_input"],
            "call_based": templates["call_based"],
            "chat_template": tokenizer.chat_template,
            "add_generation_prompt": True,
        },
        "sample": {"text": SAMPLE_TEXT, "input_ids": sample_ids, "values": sample_values},
        "training": training,
        "calibration": calibration,
        "exporter": {
            "passlens_training": _version(),
            "torch": torch.__version__,
            "transformers": _pkg_version("transformers"),
            "onnxruntime": _pkg_version("onnxruntime"),
        },
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _version() -> str:
    from .. import __version__

    return __version__


def _pkg_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


# ---------------------------------------------------------------- check

class BundleError(Exception):
    pass


def read_manifest(bundle: str | Path) -> dict:
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise BundleError(f"critic bundle folder '{bundle}' does not exist")
    path = bundle / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"'{bundle}' has no {MANIFEST_NAME}: it is not a critic bundle (export one with `python -m passlens_training.export`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BundleError(f"{path} is not valid JSON ({err})") from err
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path} has format_version {manifest.get('format_version')!r}; this version reads {FORMAT_VERSION}: re-export the bundle")
    for dtype, entry in manifest["files"].items():
        if not (bundle / entry["path"]).is_file():
            raise BundleError(f"{dtype} model file {entry['path']} listed in the manifest is missing from '{bundle}'")
    for name in manifest["tokenizer"]["files"]:
        if not (bundle / name).is_file():
            raise BundleError(f"tokenizer file {name} is missing from '{bundle}'")
    return manifest


def run_onnx(session, manifest: dict, input_ids: np.ndarray, attention_mask: np.ndarray, past: list[np.ndarray] | None = None):
    """One forward pass; returns (values [B,T], the cache after it: past + new per layer and
    kind, whether the graph outputs the new tokens' keys/values or `present`)."""
    arch = manifest["architecture"]
    batch, seq = input_ids.shape
    past_len = attention_mask.shape[1] - seq
    positions = np.clip(np.cumsum(attention_mask, axis=1) - 1, 0, None)[:, past_len:].astype(np.int64)
    feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64), "position_ids": positions}
    if manifest["onnx"]["past_key_values"]:
        if past is None:
            empty = np.zeros((batch, arch["num_kv_heads"], 0, arch["head_dim"]), dtype=np.float32)
            past = [empty] * (2 * arch["num_layers"])
        feed.update(zip(kv_input_names(arch["num_layers"]), past))
    outs = session.run(None, feed)
    kv = outs[1:]
    if kv and past_len > 0 and kv[0].shape[2] == seq:  # the new tokens' only
        kv = [np.concatenate([old, added], axis=2) for old, added in zip(past, kv)]
    return outs[0], kv


def check_bundle(bundle: str | Path, checkpoint: str | Path | None = None, *, atol: float = 1e-4) -> list[str]:
    """Runs every variant with onnxruntime against PyTorch (the checkpoint, or the values
    the manifest recorded at export time); returns the problems found (empty = ok)."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    problems: list[str] = []
    for dtype, entry in manifest["files"].items():
        if sha256_file(bundle / entry["path"]) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 differs from the manifest (file replaced or corrupt)")
        data = entry.get("external_data")
        if data and entry.get("external_data_sha256") and sha256_file(bundle / data) != entry["external_data_sha256"]:
            problems.append(f"{data}: sha256 differs from the manifest (file replaced or corrupt)")
    tokenizer = AutoTokenizer.from_pretrained(bundle)
    if sha256_file(bundle / "tokenizer.json") != manifest["tokenizer"]["tokenizer_json_sha256"] or len(tokenizer) != manifest["tokenizer"]["size"]:
        problems.append("tokenizer.json is not the tokenizer this bundle was exported with")
    texts = [manifest["sample"]["text"], "n = int(input())\nprint(n * 2)\n", "x = 'café 🙂'\n\tprint(x)\n" * 3]
    encoded = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    if checkpoint is not None:
        from ..train.model import load_value_model, token_values

        model = load_value_model(checkpoint, torch_dtype=torch.float32).eval()
        reference = [token_values(model, torch.tensor([ids]))[0].numpy() for ids in encoded]
    else:
        reference = [np.asarray(manifest["sample"]["values"], dtype=np.float32)] + [None] * (len(texts) - 1)
        if encoded[0] != manifest["sample"]["input_ids"]:
            problems.append("the tokenizer does not reproduce the manifest's sample token ids")
            reference[0] = None

    for dtype, entry in manifest["files"].items():
        try:
            session = ort.InferenceSession(str(bundle / entry["path"]), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises several unrelated types
            problems.append(f"{entry['path']}: onnxruntime cannot load it ({err})")
            continue
        names = [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
        if names != (manifest["onnx"]["inputs"], manifest["onnx"]["outputs"]):
            problems.append(f"{entry['path']}: inputs/outputs {names} differ from the manifest's")
            continue
        tol = atol if dtype == "fp32" else {"fp16": 1e-2, "int8": 0.1, "int4": 0.1}[dtype]
        for ids, ref in zip(encoded, reference):
            full, _ = run_onnx(session, manifest, np.array([ids]), np.ones((1, len(ids)), dtype=np.int64))
            if ref is not None and np.abs(full[0] - ref).max() > tol:
                problems.append(f"{entry['path']}: values differ from PyTorch by {np.abs(full[0] - ref).max():.2e} (> {tol})")
            if manifest["onnx"]["past_key_values"] and dtype == "fp32" and len(ids) > 2:
                cut = len(ids) // 2
                head, past = run_onnx(session, manifest, np.array([ids[:cut]]), np.ones((1, cut), dtype=np.int64))
                tail, _ = run_onnx(session, manifest, np.array([ids[cut:]]), np.ones((1, len(ids)), dtype=np.int64), past)
                gap = np.abs(np.concatenate([head[0], tail[0]]) - full[0]).max()
                if gap > atol:
                    problems.append(f"{entry['path']}: scoring with past key/values differs from one pass by {gap:.2e}")
    return problems


# ---------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passlens-train export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="value-head checkpoint folder (with tokenizer); with --check: compare against it")
    parser.add_argument("--out", help="bundle folder to write")
    parser.add_argument("--dtype", action="append", choices=DTYPES,
                        help="variant(s) to write besides fp32 model.onnx; repeatable; the first is the runtime default (default fp32)")
    parser.add_argument("--no-past", action="store_true", help="export without past key/values (no incremental scoring)")
    parser.add_argument("--base-model", help="base model id recorded in the manifest (default: from the training summary or config)")
    parser.add_argument("--check", metavar="BUNDLE", help="validate a bundle with onnxruntime against PyTorch and exit")
    parser.add_argument("--calibration", help=f"calibration file for the manifest (default: the checkpoint's {CALIBRATION_NAME}, if any)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if args.check:
            problems = check_bundle(args.check, args.checkpoint)
            for problem in problems:
                print(f"FAIL {problem}", file=sys.stderr)
            if not problems:
                print(f"ok: {args.check} matches {'PyTorch (' + args.checkpoint + ')' if args.checkpoint else 'its recorded PyTorch sample'}")
            return 1 if problems else 0
        if not args.checkpoint or not args.out:
            parser.error("--checkpoint and --out are required (or use --check BUNDLE)")
        manifest = build_bundle(args.checkpoint, args.out, dtypes=tuple(args.dtype or ["fp32"]),
                                with_past=not args.no_past, base_model=args.base_model,
                                calibration=read_calibration(args.calibration) if args.calibration else None)
        print(f"wrote critic bundle {args.out} ({', '.join(manifest['files'])}; default {manifest['dtype']})")
        return 0
    except (BundleError, FileNotFoundError, ValueError) as err:
        print(f"export: {err}", file=sys.stderr)
        return 1

