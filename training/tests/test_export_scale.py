"""Critic bundles past protobuf's 2 GB limit: graphs whose weights live in `.data` files and
variants converted from them weight by weight (always, on the tiny model forced onto external
data), and the Phi-4-mini-width model with the o200k tokenizer (opt-in: set
PASSLENS_PHI4_MINI_WIDTH=1; minutes and ~5 GB of memory; the benchmarks use the same fixture)."""
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from passlens_training.export import critic_bundle as export
from passlens_training.export.critic_bundle import check_bundle, read_manifest
from passlens_training.testing.fixtures import critic_bundle_fixture, phi4_mini_width_bundle_fixture

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def external_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("external") / "critic"
    checkpoint = critic_bundle_fixture(out, dtypes=("fp32", "fp16", "int8", "int4"), inline_limit_bytes=0)
    return out, checkpoint


def _initializers(path: Path) -> dict[str, tuple[int, list[int], bytes]]:
    model = onnx.load(path, load_external_data=True)
    return {t.name: (t.data_type, list(t.dims), onnx.numpy_helper.to_array(t).tobytes()) for t in model.graph.initializer}


def test_each_graph_keeps_its_weights_in_its_own_data_file_and_checks_against_pytorch(external_bundle):
    bundle, checkpoint = external_bundle
    manifest = read_manifest(bundle)
    assert set(manifest["files"]) == {"fp32", "fp16", "int8", "int4"}
    for entry in manifest["files"].values():
        assert entry["external_data"] == entry["path"] + ".data"
        graph = onnx.load(bundle / entry["path"], load_external_data=False)
        locations = {e.value for t in graph.graph.initializer for e in t.external_data if e.key == "location"}
        # Each variant reads its own data file only, so it can be copied or deleted on its own.
        assert locations == {entry["external_data"]}, entry["path"]
    assert check_bundle(bundle, checkpoint) == []
    assert export.main(["--check", str(bundle), "--checkpoint", str(checkpoint)]) == 0


def test_streamed_variants_equal_the_libraries_whole_model_conversions(external_bundle):
    """fp16, int8 and int4 read the fp32 weights one at a time from disk; the libraries, given
    the whole model in memory, must produce the same tensors (names, types, shapes, bytes)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from onnxruntime.transformers.float16 import convert_float_to_float16

    bundle, _ = external_bundle
    whole = onnx.load(bundle / "model.onnx", load_external_data=True)
    assert _initializers(bundle / "model_fp16.onnx") == {
        t.name: (t.data_type, list(t.dims), onnx.numpy_helper.to_array(t).tobytes())
        for t in convert_float_to_float16(whole, keep_io_types=True).graph.initializer
    }
    for bits, name in ((4, "model_int4.onnx"), (8, "model_int8.onnx")):
        quantizer = MatMulNBitsQuantizer(onnx.load(bundle / "model.onnx", load_external_data=True), bits=bits, block_size=32,
                                         is_symmetric=False, accuracy_level=4)
        quantizer.process()
        expected = {t.name: (t.data_type, list(t.dims), onnx.numpy_helper.to_array(t).tobytes()) for t in quantizer.model.model.graph.initializer}
        assert _initializers(bundle / name) == expected, name
        nodes = onnx.load(bundle / name, load_external_data=False).graph.node
        assert {n.attribute[[a.name for a in n.attribute].index("bits")].i for n in nodes if n.op_type == "MatMulNBits"} == {bits}


def test_the_cache_outputs_are_the_new_tokens_only(external_bundle):
    import onnxruntime as ort

    bundle, _ = external_bundle
    manifest = read_manifest(bundle)
    arch = manifest["architecture"]
    assert manifest["onnx"]["outputs"][1:] == [f"new_key_values.{i}.{k}" for i in range(arch["num_layers"]) for k in ("key", "value")]
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    past = [np.random.default_rng(i).standard_normal((1, arch["num_kv_heads"], 6, arch["head_dim"]), dtype=np.float32) for i in range(2 * arch["num_layers"])]
    feed = {"input_ids": np.array([[5, 6, 7]]), "attention_mask": np.ones((1, 9), np.int64), "position_ids": np.array([[6, 7, 8]])}
    feed.update(zip(manifest["onnx"]["inputs"][3:], past))
    outs = session.run(None, feed)
    assert [o.shape for o in outs[1:]] == [(1, arch["num_kv_heads"], 3, arch["head_dim"])] * len(past)


@pytest.mark.skipif(not os.environ.get("PASSLENS_PHI4_MINI_WIDTH"),
                    reason="opt-in: PASSLENS_PHI4_MINI_WIDTH=1 builds a 3.3 GB Phi-4-mini-width model (minutes, ~5 GB of memory)")
def test_phi4_mini_width_bundle_past_2gb_checks_against_pytorch():
    bundle = REPO / ".cache" / "fixtures" / "phi4-mini-width-2-layers"
    checkpoint = phi4_mini_width_bundle_fixture(bundle)
    manifest = read_manifest(bundle)
    arch = manifest["architecture"]
    assert (arch["hidden_size"], arch["num_attention_heads"], arch["num_kv_heads"], arch["head_dim"], arch["vocab_size"]) == (3072, 24, 8, 128, 200_064)
    assert manifest["tokenizer"]["size"] > 200_000 and arch["max_positions"] == 4096
    assert (bundle / "model.onnx.data").stat().st_size > 2**31, "the fp32 weights must be past protobuf's 2 GB limit"
    assert set(manifest["files"]) == {"fp32", "int4"}
    assert export.main(["--check", str(bundle), "--checkpoint", str(checkpoint)]) == 0
