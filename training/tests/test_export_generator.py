"""The generator export command (`passlens-train export-generator`): onnxruntime-genai's
model builder (the onnx-community GQA layout) and our dynamo export, each on a tiny Phi-3
causal LM, checked against PyTorch and against the layout transformers.js loads."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForCausalLM

from passlens_training import cli
from passlens_training.export import generator as export_generator
from passlens_training.testing.tiny import save_tiny_causal_lm


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    vocab = json.loads((save_tiny_causal_lm(root / "probe") / "config.json").read_text())["vocab_size"]
    # The builder's LM-head rule trips on a vocabulary as wide as the fused MLP projection
    # (gate_up, 2 x intermediate): the tiny model has that shape on purpose, like the micro generator.
    out = save_tiny_causal_lm(root / "ckpt", seed=3, intermediate_size=vocab // 2)
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == 2 * config["intermediate_size"]
    # Phi-4-mini stops at <|end|> or <|endoftext|>: two end ids.
    gen_path = out / "generation_config.json"
    gen = json.loads(gen_path.read_text())
    gen["eos_token_id"] = [config["vocab_size"] - 1, config["eos_token_id"]]
    gen_path.write_text(json.dumps(gen))
    return out


def _reference_logits(checkpoint, ids):
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def _run(path, ids, with_positions):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"input_ids": np.array([ids], dtype=np.int64), "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}
    if with_positions:
        feed["position_ids"] = np.arange(len(ids), dtype=np.int64)[None]
    for value in session.get_inputs():
        if value.name.startswith("past_key_values."):
            dtype = np.float16 if value.type == "tensor(float16)" else np.float32
            feed[value.name] = np.zeros((1, value.shape[1], 0, value.shape[3]), dtype=dtype)
    return session.run(["logits"], feed)[0][0].astype(np.float32)


IDS = [5, 17, 40, 41, 99, 3, 250, 7]


def test_genai_builder_writes_the_gqa_layout_transformers_js_loads(checkpoint, tmp_path):
    out = tmp_path / "genai"
    assert cli.main(["export-generator", "--checkpoint", str(checkpoint), "--out", str(out), "--builder", "genai",
                     "--dtype", "fp32", "--dtype", "q4f16"]) == 0
    assert sorted(p.name for p in (out / "onnx").iterdir()) == ["model.onnx", "model_q4f16.onnx"]
    eos = json.loads((checkpoint / "generation_config.json").read_text())["eos_token_id"]
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == eos
    assert "<|assistant|>" in json.loads((out / "tokenizer_config.json").read_text())["chat_template"]
    head = json.loads((checkpoint / "config.json").read_text())["hidden_size"] // 4

    for name, kv_type, quantised in (("model.onnx", onnx.TensorProto.FLOAT, False), ("model_q4f16.onnx", onnx.TensorProto.FLOAT16, True)):
        graph = onnx.load(out / "onnx" / name).graph
        ops = {n.op_type for n in graph.node}
        assert "GroupQueryAttention" in ops and ("MatMulNBits" in ops) == quantised
        inputs = {i.name: i.type.tensor_type for i in graph.input}
        assert "position_ids" not in inputs
        past = inputs["past_key_values.0.key"]
        assert past.elem_type == kv_type
        # transformers.js builds the first, empty past from these shapes: the head size must be a number.
        assert past.shape.dim[3].dim_value == head

    reference = _reference_logits(checkpoint, IDS)
    np.testing.assert_allclose(_run(out / "onnx" / "model.onnx", IDS, False), reference, atol=1e-4)
    # 4-bit weights and fp16 activations: the same model, coarsely (the argmax mostly agrees).
    q4f16 = _run(out / "onnx" / "model_q4f16.onnx", IDS, False)
    assert np.mean(q4f16.argmax(-1) == reference.argmax(-1)) >= 0.75
    assert np.corrcoef(q4f16.ravel(), reference.ravel())[0, 1] > 0.95


def test_dynamo_builder_keeps_position_ids_and_matches_pytorch(checkpoint, tmp_path):
    out = tmp_path / "dynamo"
    written = export_generator.export_generator(checkpoint, out, "dynamo", ["fp32", "q8"])
    assert written == {"fp32": "onnx/model.onnx", "q8": "onnx/model_quantized.onnx"}
    inputs = {i.name for i in onnx.load(out / "onnx" / "model.onnx").graph.input}
    assert "position_ids" in inputs
    np.testing.assert_allclose(_run(out / "onnx" / "model.onnx", IDS, True), _reference_logits(checkpoint, IDS), atol=1e-4)


def test_large_graphs_keep_their_weights_in_a_data_file_transformers_js_finds(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(export_generator, "INLINE_LIMIT_BYTES", 0)
    out = tmp_path / "external"
    export_generator.export_generator(checkpoint, out, "genai", ["q4"])
    assert sorted(p.name for p in (out / "onnx").iterdir()) == ["model_q4.onnx", "model_q4.onnx_data"]
    config = json.loads((out / "config.json").read_text())
    assert config["transformers.js_config"]["use_external_data_format"] == {"model_q4.onnx": 1}
    assert _run(out / "onnx" / "model_q4.onnx", IDS, False).shape == (len(IDS), config["vocab_size"])


def test_bad_requests_are_refused_with_the_reason(checkpoint, tmp_path, capsys):
    with pytest.raises(ValueError, match="the dynamo builder makes fp32, fp16, q8, q4; not q4f16"):
        export_generator.export_generator(checkpoint, tmp_path / "x", "dynamo", ["q4f16"])
    with pytest.raises(SystemExit, match="not a Hugging Face checkpoint"):
        export_generator.export_generator(tmp_path, tmp_path / "y", "genai", ["q4"])
