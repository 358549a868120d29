"""Exports a Phi-3-architecture causal LM as a generator folder the extension's local
generator (transformers.js) loads, built by one of two tools:

    python -m passlens_training.export.generator --checkpoint DIR --out DIR --builder genai|dynamo [--dtype q4 ...]
    passlens-train export-generator ...

- `genai`: onnxruntime-genai's model builder, the tool behind the onnx-community "-ONNX-GQA"
  models users download (GroupQueryAttention, MatMulNBits, no `position_ids`, fp16 KV cache
  in the f16 variants). Its dtypes: fp32 (fp32 CPU), fp16 (fp16 CUDA graph), q8 (8-bit
  MatMulNBits, CPU), q4 (4-bit MatMulNBits, CPU, fp32 I/O), q4f16 (4-bit, the WebGPU graph:
  fp16 I/O and KV cache, what onnx-community ships as `model_q4f16.onnx`).
- `dynamo`: our own torch.onnx (dynamo) export (`onnx_graph.export_decoder_onnx`, eager
  attention, `position_ids`) and its variants: fp32, fp16 (fp16 weights, fp32 I/O), q8
  (dynamic int8 MatMuls), q4 (MatMulNBits, fp32 I/O).

The folder: `config.json` and `generation_config.json` (every end-of-sequence id) from the
checkpoint, the tokenizer with its chat template inside `tokenizer_config.json` (where
transformers.js reads it), and `onnx/model{suffix}.onnx` per dtype with transformers.js'
suffixes (`''`, `_fp16`, `_quantized`, `_q4`, `_q4f16`). Graphs up to 1 GiB are stored in
one file; larger ones keep their weights in `model{suffix}.onnx_data` (listed in
config.json's `transformers.js_config.use_external_data_format`, as onnx-community does).
`--out` may be the checkpoint folder itself (the micro build adds its ONNX files there).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BUILDERS = ("genai", "dynamo")
# transformers.js' file-name suffix per dtype (its DEFAULT_DTYPE_SUFFIX_MAPPING).
SUFFIXES = {"fp32": "", "fp16": "_fp16", "q8": "_quantized", "q4": "_q4", "q4f16": "_q4f16"}
# onnxruntime-genai model builder (precision, execution provider) per dtype.
GENAI_TARGETS = {
    "fp32": ("fp32", "cpu"),
    "fp16": ("fp16", "cuda"),
    "q8": ("int8", "cpu"),
    "q4": ("int4", "cpu"),
    "q4f16": ("int4", "webgpu"),
}
DYNAMO_DTYPES = ("fp32", "fp16", "q8", "q4")
DEFAULT_DTYPES = {"genai": ("fp32", "q4", "q4f16"), "dynamo": ("fp32", "q8")}
# Above this a graph keeps its weights beside it (protobuf's 2 GB limit; transformers.js
# and plain copies prefer one file below it).
INLINE_LIMIT_BYTES = 1 << 30


def onnx_file_name(dtype: str) -> str:
    return f"model{SUFFIXES[dtype]}.onnx"


def place_onnx(src: Path, dst: Path, edit=None) -> bool:
    """Moves the graph `src` (and its external data, if any) to `dst`: one file when small,
    else with its weights in `<dst name>_data`; `edit(model)` may change the proto on the
    way. Returns whether the data is external. Never holds a large graph's weights in
    memory: the locations are rewritten in the proto alone and the data file is moved."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    model = onnx.load(src, load_external_data=False)
    tensors = list(model.graph.initializer) + [a.t for n in model.graph.node for a in n.attribute if a.HasField("t")]
    external = [t for t in tensors if uses_external_data(t)]
    data_files = {ExternalDataInfo(t).location for t in external}
    data_bytes = sum((src.parent / f).stat().st_size for f in data_files)
    dst.parent.mkdir(parents=True, exist_ok=True)
    data_name = dst.name + "_data"
    for stale in (dst, dst.with_name(data_name)):
        stale.unlink(missing_ok=True)
    if data_bytes + src.stat().st_size <= INLINE_LIMIT_BYTES:
        model = onnx.load(src, load_external_data=True)
        if edit:
            edit(model)
        onnx.save(model, dst)
        return False
    if len(data_files) != 1:
        raise ValueError(f"{src} keeps its weights in {len(data_files)} files; expected one")
    for tensor in external:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = data_name
    shutil.move(src.parent / data_files.pop(), dst.with_name(data_name))
    if edit:
        edit(model)
    onnx.save(model, dst)
    return True


def fix_cache_head_dim(head_size: int):
    """The model builder leaves the KV cache's last dimension symbolic (`kv_cache_dim`).
    transformers.js makes the first, empty past from the graph's input shapes and turns an
    unknown dimension into 0, which GroupQueryAttention rejects ("dimension 3 should match
    the packed KV head dimension"); onnx-community's GQA models state the head size there."""

    def edit(model) -> None:
        for value in list(model.graph.input) + list(model.graph.output):
            if value.name.startswith(("past_key_values.", "present.")):
                dims = value.type.tensor_type.shape.dim
                if dims[-1].dim_param:
                    dims[-1].dim_value = head_size  # clears dim_param (a oneof)

    return edit


def _build_genai(checkpoint: Path, dtype: str, work: Path) -> Path:
    precision, provider = GENAI_TARGETS[dtype]
    out = work / f"genai-{dtype}"
    cmd = [sys.executable, "-m", "passlens_training.export.genai_builder", "-i", str(checkpoint), "-o", str(out),
           "-p", precision, "-e", provider, "-c", str(work / "genai-cache")]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if result.returncode != 0 or not (out / "model.onnx").is_file():
        tail = (result.stdout + result.stderr)[-3000:]
        raise RuntimeError(f"onnxruntime-genai's model builder failed for {dtype} ({precision}, {provider}):\n{tail}")
    return out / "model.onnx"


def _build_dynamo(checkpoint: Path, dtypes: list[str], work: Path) -> dict[str, Path]:
    from transformers import AutoModelForCausalLM

    from .onnx_graph import VARIANT_BUILDERS, export_decoder_onnx

    fp32 = work / "dynamo" / "model.onnx"
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    export_decoder_onnx(model, fp32, head="lm")
    del model
    variants = {"fp16": "fp16", "q8": "int8", "q4": "int4"}
    built = {"fp32": fp32} if "fp32" in dtypes else {}
    for dtype in dtypes:
        if dtype != "fp32":
            built[dtype] = work / "dynamo" / onnx_file_name(dtype)
            VARIANT_BUILDERS[variants[dtype]](fp32, built[dtype])
    return built


def _check_checkpoint(checkpoint: Path) -> dict:
    config_path = checkpoint / "config.json"
    if not config_path.is_file():
        raise SystemExit(f"{checkpoint} is not a Hugging Face checkpoint (no config.json)")
    config = json.loads(config_path.read_text())
    arch = (config.get("architectures") or ["?"])[0]
    if arch != "Phi3ForCausalLM":
        raise SystemExit(f"{checkpoint} is a {arch}; the generator export takes a Phi3ForCausalLM checkpoint")
    if not any(checkpoint.glob("*.safetensors")) and not any(checkpoint.glob("*.bin")):
        raise SystemExit(f"{checkpoint} has no weights (*.safetensors)")
    return config


def _write_configs(checkpoint: Path, out: Path, external: dict[str, bool]) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    config = json.loads((checkpoint / "config.json").read_text())
    js_config = dict(config.get("transformers.js_config") or {})
    previous = dict(js_config.get("use_external_data_format") or {})
    previous.update({name: 1 for name, is_external in external.items() if is_external})
    for name, is_external in external.items():
        if not is_external:
            previous.pop(name, None)
    if previous:
        js_config["use_external_data_format"] = previous
    else:
        js_config.pop("use_external_data_format", None)
    if js_config:
        config["transformers.js_config"] = js_config
    else:
        config.pop("transformers.js_config", None)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # generation_config.json carries every end-of-sequence id (Phi-4-mini: <|end|> and <|endoftext|>).
    GenerationConfig.from_pretrained(checkpoint).save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    if out.resolve() != checkpoint.resolve():
        tokenizer.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text(encoding="utf-8"))
    tokenizer_config["chat_template"] = tokenizer.chat_template  # transformers.js reads it only from here
    config_path.write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def export_generator(checkpoint: str | Path, out: str | Path, builder: str, dtypes: list[str] | None = None) -> dict:
    """Builds `out` (see the module doc); returns {dtype: onnx file name} of what it wrote."""
    checkpoint, out = Path(checkpoint), Path(out)
    if builder not in BUILDERS:
        raise ValueError(f"builder must be one of {BUILDERS}, got {builder!r}")
    dtypes = list(dict.fromkeys(dtypes or DEFAULT_DTYPES[builder]))
    allowed = tuple(GENAI_TARGETS) if builder == "genai" else DYNAMO_DTYPES
    unknown = [d for d in dtypes if d not in allowed]
    if unknown:
        raise ValueError(f"the {builder} builder makes {', '.join(allowed)}; not {', '.join(unknown)}")
    config = _check_checkpoint(checkpoint)
    head_size = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    out.mkdir(parents=True, exist_ok=True)
    external: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="passlens-generator-", dir=out) as tmp:
        work = Path(tmp)
        if builder == "genai":
            built = {dtype: _build_genai(checkpoint, dtype, work) for dtype in dtypes}
        else:
            built = _build_dynamo(checkpoint, dtypes, work)
        for dtype, graph in built.items():
            edit = fix_cache_head_dim(head_size) if builder == "genai" else None
            external[onnx_file_name(dtype)] = place_onnx(graph, out / "onnx" / onnx_file_name(dtype), edit)
    _write_configs(checkpoint, out, external)
    return {dtype: f"onnx/{onnx_file_name(dtype)}" for dtype in dtypes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passlens-train export-generator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="Hugging Face Phi3ForCausalLM folder")
    parser.add_argument("--out", required=True, help="output folder (may be the checkpoint folder)")
    parser.add_argument("--builder", choices=BUILDERS, required=True,
                        help="genai: onnxruntime-genai's model builder (GQA layout); dynamo: torch.onnx export")
    parser.add_argument("--dtype", action="append", choices=tuple(SUFFIXES),
                        help="repeatable; default: genai fp32, q4, q4f16; dynamo fp32, q8")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        written = export_generator(args.checkpoint, args.out, args.builder, args.dtype)
    except (ValueError, RuntimeError) as err:
        print(f"export-generator: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"out": str(args.out), "builder": args.builder, "files": written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
