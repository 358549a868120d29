"""Critic bundle export: ONNX parity with PyTorch, past key/values, quantised variants,
the validator, and the generic decoder export reused for causal LMs."""
import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch

from passlens_training import contracts
from passlens_training.contracts import load_templates
from passlens_training.export import critic_bundle as export
from passlens_training.export.critic_bundle import MANIFEST_NAME, check_bundle, read_manifest, run_onnx
from passlens_training.export.onnx_graph import export_decoder_onnx
from passlens_training.testing.fixtures import critic_bundle_fixture, reference_values

CODE = "def solve(nums):\n\ttotal = 0\n    for x in nums:  # café 🙂\n        total += x\n    return total\n"


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "critic"
    checkpoint = critic_bundle_fixture(out, layers=2, hidden=64)
    return out, checkpoint


def _session(bundle, name="model.onnx"):
    return ort.InferenceSession(str(bundle / name), providers=["CPUExecutionProvider"])


def _ids(bundle, text):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundle).encode(text, add_special_tokens=False)


def test_manifest_describes_graph_prompt_and_files(tiny_bundle):
    bundle, _ = tiny_bundle
    manifest = read_manifest(bundle)
    contracts.validate(manifest, "critic-manifest")
    assert manifest["format_version"] == 1 and manifest["dtype"] == "fp32"
    assert manifest["architecture"] == {"model_type": "phi3", "num_layers": 2, "num_attention_heads": 4, "num_kv_heads": 2,
                                        "head_dim": 16, "hidden_size": 64, "vocab_size": manifest["architecture"]["vocab_size"],
                                        "max_positions": 2048}
    session = _session(bundle)
    assert [i.name for i in session.get_inputs()] == manifest["onnx"]["inputs"] == [
        "input_ids", "attention_mask", "position_ids",
        "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"]
    assert [o.name for o in session.get_outputs()] == manifest["onnx"]["outputs"]
    assert set(manifest["files"]) == {"fp32", "int8", "int4"}
    templates = load_templates()
    assert {k: manifest["prompt"][k] for k in templates} == templates
    assert "<|assistant|>" in manifest["prompt"]["chat_template"]
    config = json.loads((bundle / "tokenizer_config.json").read_text())
    assert config["chat_template"] == manifest["prompt"]["chat_template"]
    assert manifest["training"] is None


def test_onnx_matches_pytorch_single_batch_and_incremental(tiny_bundle):
    bundle, checkpoint = tiny_bundle
    manifest = read_manifest(bundle)
    session = _session(bundle)
    texts = ["x", "n = int(input())\n", CODE, CODE * 6]
    seqs = [_ids(bundle, t) for t in texts]
    refs = reference_values(checkpoint, seqs)
    for ids, ref in zip(seqs, refs):
        values, _ = run_onnx(session, manifest, np.array([ids]), np.ones((1, len(ids)), dtype=np.int64))
        assert np.abs(values[0] - np.array(ref)).max() < 1e-4
    # right-padded batch
    width = max(len(s) for s in seqs)
    ids = np.array([s + [0] * (width - len(s)) for s in seqs])
    mask = np.array([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    values, _ = run_onnx(session, manifest, ids, mask)
    for row, s, ref in zip(values, seqs, refs):
        assert np.abs(row[: len(s)] - np.array(ref)).max() < 1e-4
    # three chunks through the KV cache
    long_ids, long_ref = seqs[3], np.array(refs[3])
    cuts = [0, 7, 8, len(long_ids)]
    past, got = None, []
    for a, b in zip(cuts, cuts[1:]):
        out, past = run_onnx(session, manifest, np.array([long_ids[a:b]]), np.ones((1, b), dtype=np.int64), past)
        got.append(out[0])
    assert np.abs(np.concatenate(got) - long_ref).max() < 1e-4


def test_quantised_variants_rank_candidates_like_fp32(tiny_bundle):
    bundle, _ = tiny_bundle
    manifest = read_manifest(bundle)
    # A random model's final value depends mostly on the last token: the candidates end
    # differently, and lie further apart in fp32 than 4-bit rounding moves them (~0.03).
    candidates = ["total += x", "pass", "s = 'café'", "x = 3", "for i in range(9):"]
    def finals(name):
        session = _session(bundle, name)
        return [run_onnx(session, manifest, np.array([ids]), np.ones((1, len(ids)), dtype=np.int64))[0][0, -1]
                for ids in (_ids(bundle, c) for c in candidates)]
    fp32 = finals("model.onnx")
    reference = np.argsort(fp32)
    assert np.diff(np.sort(fp32)).min() > 0.05, f"fixture values too close to rank: {np.sort(fp32)}"
    for name in ("model_int8.onnx", "model_int4.onnx"):
        assert list(np.argsort(finals(name))) == list(reference), name


def test_check_passes_and_catches_swapped_tokenizer_and_corrupt_model(tiny_bundle, tmp_path):
    bundle, checkpoint = tiny_bundle
    assert check_bundle(bundle, checkpoint) == []
    assert check_bundle(bundle) == []
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    tok = json.loads((broken / "tokenizer.json").read_text())
    tok["model"]["merges"] = tok["model"]["merges"][:-40]
    (broken / "tokenizer.json").write_text(json.dumps(tok))
    (broken / "model_int8.onnx").write_bytes(b"not an onnx file")
    problems = "\n".join(check_bundle(broken))
    assert "tokenizer.json is not the tokenizer" in problems
    assert "model_int8.onnx: sha256 differs" in problems and "onnxruntime cannot load it" in problems


def test_external_data_is_hashed_in_the_manifest_and_checked(tiny_bundle, tmp_path):
    """A model saved with its weights beside it (as exports over the inline limit are): the
    manifest records the weights file's sha256, which check (and the runtime) verify."""
    _, checkpoint = tiny_bundle
    out = tmp_path / "external"
    manifest = export.build_bundle(checkpoint, out, dtypes=("fp32",), inline_limit_bytes=0)
    contracts.validate(manifest, "critic-manifest")
    entry = manifest["files"]["fp32"]
    assert entry["external_data"] == "model.onnx.data"
    assert entry["external_data_sha256"] == export.sha256_file(out / "model.onnx.data")
    assert check_bundle(out) == []
    data = bytearray((out / "model.onnx.data").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / "model.onnx.data").write_bytes(bytes(data))
    assert "model.onnx.data: sha256 differs from the manifest" in "\n".join(check_bundle(out))


def test_read_manifest_errors_are_actionable(tiny_bundle, tmp_path):
    bundle, _ = tiny_bundle
    with pytest.raises(export.BundleError, match="does not exist"):
        read_manifest(tmp_path / "nowhere")
    with pytest.raises(export.BundleError, match="not a critic bundle"):
        read_manifest(tmp_path)
    future = tmp_path / "future"
    shutil.copytree(bundle, future)
    manifest = json.loads((future / MANIFEST_NAME).read_text())
    manifest["format_version"] = 99
    (future / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(export.BundleError, match="format_version 99.*re-export"):
        read_manifest(future)


def test_cli_exports_no_past_bundle_with_training_summary(tiny_bundle, tmp_path, capsys):
    _, checkpoint = tiny_bundle
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    summary = {"base_model": "microsoft/Phi-4-mini-instruct", "data": {"rollouts": 12}, "metrics": {"auroc": 0.7}}
    (ckpt / export.TRAINING_SUMMARY_NAME).write_text(json.dumps(summary))
    out = tmp_path / "bundle"
    assert export.main(["--checkpoint", str(ckpt), "--out", str(out), "--no-past"]) == 0
    manifest = read_manifest(out)
    assert manifest["training"] == summary and manifest["base_model"] == "microsoft/Phi-4-mini-instruct"
    assert manifest["onnx"]["past_key_values"] is False and manifest["onnx"]["outputs"] == ["values"]
    session = _session(out)
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "position_ids"]
    ids = _ids(out, CODE)
    values, _ = run_onnx(session, manifest, np.array([ids]), np.ones((1, len(ids)), dtype=np.int64))
    assert np.abs(values[0] - np.array(reference_values(ckpt, [ids])[0])).max() < 1e-4
    assert export.main(["--check", str(out), "--checkpoint", str(ckpt)]) == 0
    assert export.main(["--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_export_decoder_onnx_lm_head_gives_logits_like_pytorch(tmp_path):
    from transformers import AutoModelForCausalLM

    from passlens_training.testing.tiny import save_tiny_causal_lm

    lm = AutoModelForCausalLM.from_pretrained(save_tiny_causal_lm(tmp_path / "lm", seed=2)).eval()
    info = export_decoder_onnx(lm, tmp_path / "onnx" / "model.onnx", head="lm")
    assert info["outputs"][0] == "logits" and info["inputs"][3] == "past_key_values.0.key" and not info["external_data"]
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    ids = torch.randint(0, lm.config.vocab_size, (1, 9))
    kv = np.zeros((1, lm.config.num_key_value_heads, 0, lm.config.hidden_size // lm.config.num_attention_heads), np.float32)
    feed = {"input_ids": ids.numpy(), "attention_mask": np.ones((1, 9), np.int64), "position_ids": np.arange(9)[None]}
    feed.update({name: kv for name in info["inputs"][3:]})
    logits = session.run(["logits"], feed)[0]
    with torch.no_grad():
        expected = lm(input_ids=ids).logits.numpy()
    assert logits.shape == expected.shape and np.abs(logits - expected).max() < 1e-4



def test_fixture_is_reused_when_inputs_are_unchanged(tiny_bundle):
    bundle, checkpoint = tiny_bundle
    before = (bundle / "model.onnx").stat().st_mtime_ns
    assert critic_bundle_fixture(bundle, layers=2, hidden=64) == checkpoint
    assert (bundle / "model.onnx").stat().st_mtime_ns == before
