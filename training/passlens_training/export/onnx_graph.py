"""ONNX graphs of Phi-3-architecture decoders in the Optimum / transformers.js layout, and
their fp16 / int8 / int4 variants. Used for critic bundles (value head) and generators (LM head).

Inputs `input_ids`, `attention_mask`, `position_ids`, `past_key_values.{i}.key|value`;
outputs `values` (sigmoid applied) or `logits`, and `present.{i}.key|value`.
"""
from __future__ import annotations

import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal

import torch
from torch import nn

# Graphs up to this size are saved as one file (transformers.js and simple copies want
# that); larger ones keep their weights in `<model>.onnx.data` (protobuf's 2 GB limit).
INLINE_LIMIT_BYTES = 1 << 30
INT4_BLOCK_SIZE = 32


def kv_input_names(n_layers: int) -> list[str]:
    return [f"past_key_values.{i}.{kind}" for i in range(n_layers) for kind in ("key", "value")]


def kv_output_names(n_layers: int) -> list[str]:
    return [f"present.{i}.{kind}" for i in range(n_layers) for kind in ("key", "value")]


class DecoderForExport(nn.Module):
    """Flat-tensor view of a Phi-3 decoder for the ONNX exporter: past key/values come in
    as separate tensors and go out as `present`, the head is the value head (+ sigmoid)
    or the LM head."""

    def __init__(self, model: nn.Module, head: Literal["value", "lm"], with_past: bool):
        super().__init__()
        self.backbone = model.model
        self.head_layer = model.score if head == "value" else model.lm_head
        self.head = head
        self.with_past = with_past
        self.n_layers = model.config.num_hidden_layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        from ..train.model import cache_kwargs

        cache = None
        if self.with_past:
            cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.n_layers)])
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=self.with_past,
            **cache_kwargs(cache),
        )
        head_out = self.head_layer(out.last_hidden_state)
        first = torch.sigmoid(head_out).squeeze(-1) if self.head == "value" else head_out
        if not self.with_past:
            return first
        presents = []
        for layer in out.past_key_values.layers:
            presents += [layer.keys, layer.values]
        return (first, *presents)


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


@contextmanager
def _eager_attention(model: nn.Module) -> Iterator[None]:
    """Plain MatMul/Softmax attention exports to ops every onnxruntime EP runs."""
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = "eager"
    for module in model.modules():
        if hasattr(module, "config") and module.config is not config and hasattr(module.config, "_attn_implementation"):
            module.config._attn_implementation = "eager"
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
) -> dict:
    """Exports a Phi-3 `...ForTokenClassification` (head="value", output `values`) or
    `...ForCausalLM` (head="lm", output `logits`) to `out_path` in the Optimum /
    transformers.js decoder layout. Returns {inputs, outputs, opset, external_data}.

    The graph accepts an empty past (past length 0) for the first call. Saved as one file
    when under 1 GiB, else with `<name>.data` beside it.
    """
    if head not in ("value", "lm"):
        raise ValueError(f"head must be 'value' or 'lm', got {head!r}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    config = model.config
    n_layers, kv_heads, dim = config.num_hidden_layers, config.num_key_value_heads, head_dim(config)
    model = model.eval().float() if next(model.parameters()).dtype != torch.float32 else model.eval()
    wrapper = DecoderForExport(model, head, with_past)

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
    outputs = [first_out] + (kv_output_names(n_layers) if with_past else [])
    dynamic_shapes = ({0: b, 1: s}, {0: b, 1: t if with_past else s}, {0: b, 1: s})
    if with_past:
        dynamic_shapes += (tuple({0: b, 2: p} for _ in past),)

    with tempfile.TemporaryDirectory() as tmp, _eager_attention(model), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "model.onnx"
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
        external = _save_onnx(_load_onnx(raw), out_path)
    import onnx

    opset_used = next(o.version for o in onnx.load(out_path, load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))
    return {"inputs": inputs, "outputs": outputs, "opset": opset_used, "external_data": external}


def _load_onnx(path: Path):
    import onnx

    return onnx.load(path, load_external_data=True)


def _save_onnx(model_proto, out_path: Path) -> bool:
    """Saves inline when small, else with external data; returns whether external."""
    import onnx

    data_path = out_path.with_name(out_path.name + ".data")
    if data_path.exists():
        data_path.unlink()
    external = model_proto.ByteSize() > INLINE_LIMIT_BYTES
    if external:
        onnx.save(model_proto, out_path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=data_path.name, size_threshold=1024)
    else:
        onnx.save(model_proto, out_path)
    return external


# ---------------------------------------------------------------- quantised variants

def convert_fp16(src: Path, dst: Path) -> None:
    """fp16 weights and compute; inputs/outputs (past included) stay float32 so one
    runtime code path feeds every variant."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    _save_onnx(convert_float_to_float16(_load_onnx(src), keep_io_types=True), dst)


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 (weights int8, activations quantised on the fly) of the MatMuls."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model_int8.onnx"
        quantize_dynamic(src, out, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         per_channel=False, use_external_data_format=True)
        _save_onnx(_load_onnx(out), dst)


def quantize_int4(src: Path, dst: Path) -> None:
    """4-bit blockwise weight-only quantisation (MatMulNBits, block 32, asymmetric)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # Asymmetric blocks (a zero point each) lose less than symmetric ones; accuracy_level 4
    # lets the CPU kernel multiply in int8, its fast path.
    quantizer = MatMulNBitsQuantizer(_load_onnx(src), bits=4, block_size=INT4_BLOCK_SIZE, is_symmetric=False,
                                     accuracy_level=4)
    quantizer.process()
    _save_onnx(quantizer.model.model, dst)


VARIANT_BUILDERS = {"fp16": convert_fp16, "int8": quantize_int8, "int4": quantize_int4}
