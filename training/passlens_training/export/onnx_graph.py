"""ONNX graphs of Phi-3-architecture decoders, and their fp16 / int8 / int4 variants. Used for
critic bundles (value head) and generators (LM head, Optimum / transformers.js layout).

Inputs `input_ids`, `attention_mask`, `position_ids`, `past_key_values.{i}.key|value`;
outputs `values` (sigmoid applied) or `logits`, then per layer either `present.{i}.key|value`
(past and new tokens: the Optimum layout generators use) or `new_key_values.{i}.key|value`
(the new tokens only: critic bundles, whose runtime keeps the past itself, so a pass
returns and copies only what it adds).

Weights never sit in memory twice: the exporter writes them straight from the PyTorch
parameters, and the variants read the fp32 graph without its weights and stream each weight
from its data file (see `_save_streaming`), so models past protobuf's 2 GB limit convert too.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Literal

import torch
from torch import nn

# Graphs whose weights total at most this are saved as one file (transformers.js and simple
# copies want that); larger ones keep their weights in `<model>.onnx.data` (protobuf's 2 GB limit).
INLINE_LIMIT_BYTES = 1 << 30
BLOCK_SIZE = 32
KvOutputs = Literal["present", "new"]
# Weights are copied between data files in pieces of this size (a multiple of every element size).
_CHUNK_BYTES = 64 << 20
# Tensors in a data file start on page boundaries, so onnxruntime can map them in place.
_ALIGN_BYTES = 4096
# Tensors smaller than this stay inside the graph file (onnx.save's default threshold).
_INLINE_TENSOR_BYTES = 1024


def kv_input_names(n_layers: int) -> list[str]:
    return [f"past_key_values.{i}.{kind}" for i in range(n_layers) for kind in ("key", "value")]


def kv_output_names(n_layers: int, kv_outputs: KvOutputs = "present") -> list[str]:
    prefix = "present" if kv_outputs == "present" else "new_key_values"
    return [f"{prefix}.{i}.{kind}" for i in range(n_layers) for kind in ("key", "value")]


def data_path(model_path: Path) -> Path:
    """Where a model's external weights live: `<model file>.data` beside it."""
    return model_path.with_name(model_path.name + ".data")


# ---------------------------------------------------------------- attention without copying the past

NEW_KV_ATTENTION = "passlens_new_kv"


def _new_kv_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager attention over past + new keys, computed without building the keys
    past + new: the scores against the past keys (read in place: onnxruntime fuses the
    transpose into its MatMul) and against the new ones are computed apart and joined
    (queries × keys, small), and the query heads are grouped per key/value head instead of
    repeating the cache once per query head (repeat_kv). The values are joined, one copy of
    the past values per pass: summing attention over past and new values apart would round
    differently from one pass over the whole text, and a stream's scores must equal a full
    pass's bit for bit. `key`/`value` here are the new tokens' only."""
    past_key, past_value = kwargs["passlens_past"][module.layer_idx]
    batch, heads, seq, dim = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    grouped = query.reshape(batch, kv_heads, groups * seq, dim)
    scores = torch.cat([grouped @ past_key.transpose(2, 3), grouped @ key.transpose(2, 3)], dim=-1) * scaling
    scores = scores.view(batch, kv_heads, groups, seq, -1)
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, None]
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = probs.view(batch, kv_heads, groups * seq, -1) @ torch.cat([past_value, value], dim=2)
    return out.view(batch, heads, seq, dim).transpose(1, 2).contiguous(), None


def _register_new_kv_attention() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    AttentionInterface.register(NEW_KV_ATTENTION, _new_kv_attention)
    AttentionMaskInterface.register(NEW_KV_ATTENTION, eager_mask)


def _past_only_cache(past_pairs):
    """A DynamicCache that holds the past as given (so masks span past + new) and whose update
    hands back only the new keys/values, recorded for the graph's outputs."""
    from transformers import DynamicCache

    class PastOnlyCache(DynamicCache):
        def __init__(self):
            super().__init__(ddp_cache_data=past_pairs)
            self.new: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

        def update(self, key_states, value_states, layer_idx, *args, **kwargs):
            self.new[layer_idx] = (key_states, value_states)
            return key_states, value_states

    return PastOnlyCache()


class DecoderForExport(nn.Module):
    """Flat-tensor view of a Phi-3 decoder for the ONNX exporter: past key/values come in
    as separate tensors and go out as `present` (past + new) or as the new tokens' only;
    the head is the value head (+ sigmoid) or the LM head."""

    def __init__(self, model: nn.Module, head: Literal["value", "lm"], with_past: bool, kv_outputs: KvOutputs = "present"):
        super().__init__()
        self.backbone = model.model
        self.head_layer = model.score if head == "value" else model.lm_head
        self.head = head
        self.with_past = with_past
        self.kv_outputs = kv_outputs
        self.n_layers = model.config.num_hidden_layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        from ..train.model import cache_kwargs

        pairs = [(past[2 * i], past[2 * i + 1]) for i in range(self.n_layers)] if self.with_past else []
        extra = {}
        cache = None
        if self.with_past and self.kv_outputs == "new":
            cache = _past_only_cache(pairs)
            extra["passlens_past"] = pairs
        elif self.with_past:
            cache = DynamicCache(ddp_cache_data=pairs)
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=self.with_past,
            **cache_kwargs(cache),
            **extra,
        )
        head_out = self.head_layer(out.last_hidden_state)
        first = torch.sigmoid(head_out).squeeze(-1) if self.head == "value" else head_out
        if not self.with_past:
            return first
        kv = []
        if self.kv_outputs == "new":
            for i in range(self.n_layers):
                kv += list(cache.new[i])
        else:
            for layer in out.past_key_values.layers:
                kv += [layer.keys, layer.values]
        return (first, *kv)


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


@contextmanager
def _attention(model: nn.Module, implementation: str) -> Iterator[None]:
    """Exports with plain MatMul/Softmax attention, ops every onnxruntime EP runs."""
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = implementation
    for module in model.modules():
        if hasattr(module, "config") and module.config is not config and hasattr(module.config, "_attn_implementation"):
            module.config._attn_implementation = implementation
    try:
        yield
    finally:
        config._attn_implementation = previous


def export_decoder_onnx(
    model: nn.Module,
    out_path: str | Path,
    head: Literal["value", "lm"] = "value",
    with_past: bool = True,
    opset: int | None = None,
    *,
    kv_outputs: KvOutputs = "present",
    inline_limit_bytes: int = INLINE_LIMIT_BYTES,
) -> dict:
    """Exports a Phi-3 `...ForTokenClassification` (head="value", output `values`) or
    `...ForCausalLM` (head="lm", output `logits`) to `out_path`. Returns {inputs, outputs,
    opset, external_data}.

    kv_outputs="present" gives the Optimum / transformers.js layout (`present` = past + new);
    "new" outputs only the new tokens' keys/values and reads the past keys in place
    (`_new_kv_attention`).
    The graph accepts an empty past (past length 0) for the first call. Saved as one file
    when its weights total at most `inline_limit_bytes`, else with `<name>.data` beside it;
    the weights go from the PyTorch parameters to disk without another copy in memory.
    """
    if head not in ("value", "lm"):
        raise ValueError(f"head must be 'value' or 'lm', got {head!r}")
    if kv_outputs not in ("present", "new"):
        raise ValueError(f"kv_outputs must be 'present' or 'new', got {kv_outputs!r}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    config = model.config
    n_layers, kv_heads, dim = config.num_hidden_layers, config.num_key_value_heads, head_dim(config)
    model = model.eval().float() if next(model.parameters()).dtype != torch.float32 else model.eval()
    wrapper = DecoderForExport(model, head, with_past, kv_outputs)

    # Example shapes must differ from each other and be > 1, or torch.export specialises them.
    batch, seq, past_len = 2, 5, 3
    vocab = config.vocab_size
    input_ids = torch.randint(0, vocab, (batch, seq))
    total = past_len + seq if with_past else seq
    attention_mask = torch.ones(batch, total, dtype=torch.long)
    position_ids = torch.arange(total - seq, total)[None].expand(batch, seq).contiguous()
    past = tuple(torch.randn(batch, kv_heads, past_len, dim) for _ in range(2 * n_layers)) if with_past else ()

    b, s = torch.export.Dim("batch_size"), torch.export.Dim("sequence_length")
    p, t = torch.export.Dim("past_sequence_length"), torch.export.Dim("total_sequence_length")
    first_out = "values" if head == "value" else "logits"
    inputs = ["input_ids", "attention_mask", "position_ids"] + (kv_input_names(n_layers) if with_past else [])
    outputs = [first_out] + (kv_output_names(n_layers, kv_outputs) if with_past else [])
    dynamic_shapes = ({0: b, 1: s}, {0: b, 1: t if with_past else s}, {0: b, 1: s})
    if with_past:
        dynamic_shapes += (tuple({0: b, 2: p} for _ in past),)

    implementation = "eager"
    if with_past and kv_outputs == "new":
        _register_new_kv_attention()
        implementation = NEW_KV_ATTENTION
    # Written beside the destination (same file system) under the destination's name, so the
    # data file's name recorded in the graph is already the final one.
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".export-") as tmp, _attention(model, implementation), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / out_path.name
        program = torch.onnx.export(
            wrapper,
            (input_ids, attention_mask, position_ids, *past),
            raw,
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=dynamic_shapes,
            dynamo=True,
            optimize=True,
            external_data=True,
            opset_version=opset,
        )
        del program
        external = _install(raw, out_path, inline_limit_bytes)
    import onnx

    opset_used = next(o.version for o in onnx.load(out_path, load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))
    return {"inputs": inputs, "outputs": outputs, "opset": opset_used, "external_data": external}


# ---------------------------------------------------------------- files and external data

def _remove_model(path: Path) -> None:
    for stale in (path, data_path(path)):
        if stale.exists():
            stale.unlink()


def _install(written: Path, dst: Path, inline_limit_bytes: int) -> bool:
    """Moves a model a library just wrote (graph + `<name>.data`, named like `dst`) into place:
    as one file when its weights total at most `inline_limit_bytes`, else renamed as it is.
    Returns whether the weights are external."""
    import onnx

    _remove_model(dst)
    data = data_path(written)
    if not data.exists():
        written.replace(dst)
        return False
    if data.stat().st_size <= inline_limit_bytes:
        onnx.save(onnx.load(written), dst)
        return False
    written.replace(dst)
    data.replace(data_path(dst))
    # Some writers create the data file private (0600); give it the mode of the graph file.
    data_path(dst).chmod(dst.stat().st_mode & 0o777)
    return True


def _external_info(tensor) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def _is_external(tensor) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL


def _set_external(tensor, location: str, offset: int, length: int) -> None:
    import onnx

    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")


def _external_span(src_dir: Path, tensor) -> tuple[Path, int, int]:
    """(file, offset, length) of an initializer on disk; a missing length runs to the file's end."""
    info = _external_info(tensor)
    path, offset = src_dir / info["location"], int(info.get("offset", 0))
    return path, offset, int(info["length"]) if "length" in info else path.stat().st_size - offset


def _read_pieces(src_dir: Path, tensor) -> Iterator[bytes]:
    """The bytes of an initializer still on disk, in pieces of at most _CHUNK_BYTES."""
    path, offset, length = _external_span(src_dir, tensor)
    with open(path, "rb") as fh:
        fh.seek(offset)
        while length > 0:
            piece = fh.read(min(_CHUNK_BYTES, length))
            if not piece:
                raise ValueError(f"{path} ends before initializer {tensor.name}'s data: the model's data file is truncated")
            length -= len(piece)
            yield piece


def _load_graph(path: Path, *, infer_shapes: bool = False):
    """The graph of the model at `path` without its weights (they stay on disk, referenced
    relative to the model as ONNX specifies), optionally with inferred shapes. Shape inference
    runs on the file (onnx's path API), which works past protobuf's 2 GB limit."""
    import onnx

    if not infer_shapes:
        return onnx.load(path, load_external_data=False)
    fd, inferred = tempfile.mkstemp(dir=path.parent, prefix=".inferred-", suffix=".onnx")
    os.close(fd)
    try:
        onnx.shape_inference.infer_shapes_path(str(path), inferred)
        return onnx.load(inferred, load_external_data=False)
    finally:
        os.unlink(inferred)


@contextmanager
def _weights_resolved_beside(model_path: Path) -> Iterator[None]:
    """onnx and onnx_ir resolve a tensor's external data relative to a base folder that
    onnxruntime's quantizers never pass, i.e. relative to the working directory. Inside this,
    that is the model's folder, so the quantizers read each weight from disk when they reach
    it, instead of us loading every weight up front."""
    with contextlib.chdir(model_path.parent):
        yield


def _save_streaming(proto, src_dir: Path, dst: Path, inline_limit_bytes: int,
                    convert: dict[str, Callable[[bytes], bytes]] | None = None) -> bool:
    """Writes `proto` to `dst` with its weights streamed one piece at a time: initializers
    still on disk (data files relative to `src_dir`) are copied in pieces, through
    `convert[name]` where given (bytes → bytes, piece by piece); initializers in memory are
    written as they are. One file when the weights total at most `inline_limit_bytes`, else
    `<dst>.data` beside it. Returns whether the weights are external."""
    import onnx

    convert = convert or {}
    for node in proto.graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t") and _is_external(attribute.t):
                raise ValueError(f"node {node.name} holds a tensor attribute in external data; only initializers are streamed")
    _remove_model(dst)
    initializers = list(proto.graph.initializer)

    def pieces(tensor) -> Iterator[bytes]:
        change = convert.get(tensor.name)
        for piece in _read_pieces(src_dir, tensor):
            yield change(piece) if change else piece

    def size(tensor) -> int:
        if not _is_external(tensor):
            return len(tensor.raw_data)
        length = _external_span(src_dir, tensor)[2]
        change = convert.get(tensor.name)
        # A conversion changes the size by a fixed ratio (e.g. 4 bytes to 2): read it off 64 bytes.
        return len(change(bytes(64))) * length // 64 if change else length

    if sum(size(tensor) for tensor in initializers) <= inline_limit_bytes:
        for tensor in initializers:
            if _is_external(tensor):
                data = b"".join(pieces(tensor))
                del tensor.external_data[:]
                tensor.data_location = onnx.TensorProto.DEFAULT
                tensor.raw_data = data
        onnx.save(proto, dst)
        return False
    data_file = data_path(dst)
    with open(data_file, "wb") as out:
        for tensor in initializers:
            if not _is_external(tensor) and len(tensor.raw_data) < _INLINE_TENSOR_BYTES:
                continue
            out.write(b"\0" * (-out.tell() % _ALIGN_BYTES))
            offset = out.tell()
            if _is_external(tensor):
                for piece in pieces(tensor):
                    out.write(piece)
            else:
                out.write(tensor.raw_data)
            _set_external(tensor, data_file.name, offset, out.tell() - offset)
    onnx.save(proto, dst)
    return True


# ---------------------------------------------------------------- quantised variants

def convert_fp16(src: Path, dst: Path, *, inline_limit_bytes: int = INLINE_LIMIT_BYTES) -> None:
    """fp16 weights and compute; inputs/outputs (past included) stay float32 so one
    runtime code path feeds every variant.

    onnxruntime's converter decides the graph (casts, which weights become fp16); it reads
    only initializers in memory, so each weight on disk is shown to it as a one-element
    stand-in of the same name, and converted afterwards piece by piece with the converter's
    own rounding (convert_np_to_float16)."""
    import numpy as np
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16, convert_np_to_float16

    src, dst = Path(src), Path(dst)
    proto = _load_graph(src, infer_shapes=True)
    on_disk = {}
    for tensor in proto.graph.initializer:
        if tensor.data_type == onnx.TensorProto.FLOAT and _is_external(tensor):
            on_disk[tensor.name] = (list(tensor.dims), _external_info(tensor)["location"], _external_span(src.parent, tensor))
            del tensor.dims[:]
            tensor.dims.append(1)
            del tensor.external_data[:]
            tensor.data_location = onnx.TensorProto.DEFAULT
            tensor.raw_data = np.zeros(1, dtype=np.float32).tobytes()
    proto = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=True)

    def to_fp16(piece: bytes) -> bytes:
        return convert_np_to_float16(np.frombuffer(piece, dtype=np.float32)).tobytes()

    convert = {}
    for tensor in proto.graph.initializer:
        if tensor.name not in on_disk:
            continue
        dims, location, (_, offset, length) = on_disk[tensor.name]
        if tensor.data_type == onnx.TensorProto.FLOAT16:
            convert[tensor.name] = to_fp16
        del tensor.dims[:]
        tensor.dims.extend(dims)
        _set_external(tensor, location, offset, length)
    # The converter described each stand-in's shape ([1]); initializers need no value_info.
    kept = [info for info in proto.graph.value_info if info.name not in on_disk]
    del proto.graph.value_info[:]
    proto.graph.value_info.extend(kept)
    _save_streaming(proto, src.parent, dst, inline_limit_bytes, convert)


def quantize_int8(src: Path, dst: Path, *, inline_limit_bytes: int = INLINE_LIMIT_BYTES) -> None:
    """Dynamic int8 (weights int8, activations quantised on the fly) of the MatMuls: the q8
    graph transformers.js generators load. quantize_dynamic takes the path (shape inference by
    file, weights written as external data), so it works past 2 GB, but it holds the model
    several times over (3.6x the fp32 weights measured at Phi-4-mini width)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".int8-") as tmp:
        out = Path(tmp) / dst.name
        quantize_dynamic(src, out, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         per_channel=False, use_external_data_format=True)
        _install(out, dst, inline_limit_bytes)


def _quantize_blockwise(src: Path, dst: Path, bits: int, inline_limit_bytes: int) -> None:
    """Weight-only blockwise quantisation of the MatMuls (MatMulNBits, block 32, asymmetric);
    the quantizer reads each weight from disk when it reaches it, and the weights it leaves
    (embedding, norms) are streamed across."""
    import logging

    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    src, dst = Path(src), Path(dst)
    proto = _load_graph(src)
    # The module sets up INFO logging of every node at import; keep its warnings only.
    logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)
    with _weights_resolved_beside(src):
        # Asymmetric blocks (a zero point each) lose less than symmetric ones; accuracy_level 4
        # lets the CPU kernel multiply in int8, its fast path.
        quantizer = MatMulNBitsQuantizer(proto, bits=bits, block_size=BLOCK_SIZE, is_symmetric=False, accuracy_level=4)
        quantizer.process()
    _save_streaming(quantizer.model.model, src.parent, dst, inline_limit_bytes)


def quantize_int8_blockwise(src: Path, dst: Path, *, inline_limit_bytes: int = INLINE_LIMIT_BYTES) -> None:
    """8-bit weights of the MatMuls (MatMulNBits, block 32), read from disk one at a time."""
    _quantize_blockwise(src, dst, 8, inline_limit_bytes)


def quantize_int4(src: Path, dst: Path, *, inline_limit_bytes: int = INLINE_LIMIT_BYTES) -> None:
    """4-bit weights of the MatMuls (MatMulNBits, block 32), read from disk one at a time."""
    _quantize_blockwise(src, dst, 4, inline_limit_bytes)


VARIANT_BUILDERS = {"fp16": convert_fp16, "int8": quantize_int8, "int4": quantize_int4}
# Critic bundles' int8 is 8-bit MatMulNBits, converted from disk like int4 (transformers.js
# generators keep dynamic int8, their q8 convention).
CRITIC_VARIANT_BUILDERS = {**VARIANT_BUILDERS, "int8": quantize_int8_blockwise}
