"""The value-head model: loading from value and causal-LM checkpoints, freezing, loss."""
import inspect
import math

import pytest
import torch

from passlens_training.train.model import (
    freeze_all_but_last,
    load_value_model,
    token_values,
    value_loss,
    value_model_from_config,
)
from passlens_training.testing.tiny import save_tiny_causal_lm, tiny_phi3_config, train_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer()


@pytest.fixture(scope="module")
def tiny_value(tokenizer):
    return value_model_from_config(tiny_phi3_config(len(tokenizer), num_layers=3), seed=0).eval()


def test_value_checkpoint_round_trips_with_its_head(tmp_path, tokenizer, tiny_value):
    tiny_value.save_pretrained(tmp_path)
    loaded = load_value_model(tmp_path).eval()
    ids = torch.tensor([tokenizer.encode("def f(x):\n    return x + 1\n")])
    assert torch.equal(loaded.score.weight, tiny_value.score.weight)
    assert torch.allclose(token_values(loaded, ids), token_values(tiny_value, ids), atol=1e-6)


def test_causal_lm_checkpoint_gets_backbone_and_a_small_new_head(tmp_path, tokenizer):
    from transformers import AutoModelForCausalLM

    lm_dir = save_tiny_causal_lm(tmp_path / "lm", seed=3)
    lm = AutoModelForCausalLM.from_pretrained(lm_dir)
    value = load_value_model(lm_dir).eval()
    assert value.config.num_labels == 1 and value.config.architectures == ["Phi3ForTokenClassification"]
    assert torch.equal(value.model.layers[0].self_attn.qkv_proj.weight, lm.model.layers[0].self_attn.qkv_proj.weight)
    assert value.score.weight.abs().max() < 0.01 and torch.all(value.score.bias == 0)
    values = token_values(value, torch.tensor([tokenizer.encode("print(1)")]))
    assert torch.all((values - 0.5).abs() < 0.05)


def test_load_value_model_dtype_and_errors(tmp_path, tiny_value):
    tiny_value.save_pretrained(tmp_path / "v")
    assert load_value_model(tmp_path / "v", torch_dtype=torch.bfloat16).score.weight.dtype == torch.bfloat16
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_value_model(tmp_path / "missing")


def test_freeze_all_but_last_leaves_last_layers_norm_and_head(tiny_value):
    counts = freeze_all_but_last(tiny_value, 1)
    trainable = {name for name, p in tiny_value.named_parameters() if p.requires_grad}
    assert "score.weight" in trainable and "model.norm.weight" in trainable
    assert any(name.startswith("model.layers.2.") for name in trainable)
    assert not any(name.startswith(("model.layers.0.", "model.layers.1.", "model.embed_tokens")) for name in trainable)
    assert counts["trainable"] == sum(p.numel() for p in tiny_value.parameters() if p.requires_grad)
    assert counts["trainable"] + counts["frozen"] == counts["total"]
    assert freeze_all_but_last(tiny_value, 0)["trainable"] < counts["trainable"]
    with pytest.raises(ValueError, match="between 0 and 3"):
        freeze_all_but_last(tiny_value, 4)
    for p in tiny_value.parameters():
        p.requires_grad_(True)


def test_value_loss_is_bce_over_masked_tokens_only():
    logits = torch.tensor([[0.0, 2.0, 50.0], [-1.0, 3.0, 0.0]])
    labels = torch.tensor([1, 0])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    expected = (
        -math.log(0.5) - math.log(torch.sigmoid(torch.tensor(2.0)).item())
        - math.log(1 - torch.sigmoid(torch.tensor(-1.0)).item()) - math.log(1 - torch.sigmoid(torch.tensor(3.0)).item())
        - math.log(0.5)
    ) / 5
    assert value_loss(logits, labels, mask).item() == pytest.approx(expected, rel=1e-5)
    assert value_loss(logits[..., None], labels, mask).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="no tokens"):
        value_loss(logits, labels, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="one per sequence"):
        value_loss(logits, torch.tensor([1, 0, 1]), mask)


def test_value_loss_trains_the_head_towards_labels(tokenizer):
    model = value_model_from_config(tiny_phi3_config(len(tokenizer)), seed=1)
    freeze_all_but_last(model, 0)
    first = tokenizer.encode("total = 1\n")
    ids = torch.tensor([first, first[::-1]])
    mask, labels = torch.ones_like(ids), torch.tensor([1, 0])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    for _ in range(30):
        loss = value_loss(model(input_ids=ids, attention_mask=mask).logits, labels, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    values = token_values(model.eval(), ids, mask)
    assert values[0, -1] > 0.8 and values[1, -1] < 0.2


def test_token_values_left_padding_matches_unpadded(tokenizer, tiny_value):
    ids = tokenizer.encode("for i in range(3):\n    print(i)\n")
    alone = token_values(tiny_value, torch.tensor([ids]))
    pad = tokenizer.pad_token_id
    padded = torch.tensor([[pad] * 4 + ids])
    mask = torch.tensor([[0] * 4 + [1] * len(ids)])
    assert torch.allclose(token_values(tiny_value, padded, mask)[:, 4:], alone, atol=1e-5)


def test_cache_kwargs_follow_the_forward_signature(tiny_value):
    """transformers renamed past_key_values to cache; a forward with **kwargs drops the other
    name silently, so the cache must go under the name the installed version reads."""
    from passlens_training.train.model import cache_argument, cache_kwargs

    class OldForward(torch.nn.Module):
        def forward(self, input_ids, past_key_values=None, **kwargs):
            return past_key_values

    assert cache_argument(OldForward().forward) == "past_key_values"
    (name,) = cache_kwargs(None)
    assert name in inspect.signature(tiny_value.forward).parameters
    assert name in inspect.signature(tiny_value.model.forward).parameters  # the backbone export calls


@pytest.mark.parametrize("model_type", ["qwen2", "llama"])
def test_other_decoders_load_from_causal_lm_and_value_checkpoints(tmp_path, tokenizer, model_type):
    """Qwen2 and Llama (the real models of configs/real-cpu.yaml) take the Phi-3 critic's path:
    backbone from a causal LM, a new small head, the architecture recorded in config.json."""
    from transformers import AutoModelForCausalLM

    from passlens_training.testing.tiny import tiny_decoder_config
    from passlens_training.train.model import VALUE_ARCHITECTURES, cache_kwargs

    config = tiny_decoder_config(model_type, len(tokenizer), num_layers=2)
    torch.manual_seed(5)
    lm = AutoModelForCausalLM.from_config(config)
    lm.save_pretrained(tmp_path / "lm")
    value = load_value_model(tmp_path / "lm").eval()
    assert type(value).__name__ == VALUE_ARCHITECTURES[model_type] and value.config.architectures == [VALUE_ARCHITECTURES[model_type]]
    assert torch.equal(value.model.layers[1].self_attn.q_proj.weight, lm.model.layers[1].self_attn.q_proj.weight)
    assert value.score.weight.abs().max() < 0.01
    with torch.no_grad():
        value.score.weight.normal_()
    value.save_pretrained(tmp_path / "value")
    loaded = load_value_model(tmp_path / "value").eval()
    ids = torch.tensor([tokenizer.encode("def f(x):\n    return x * 2\n")])
    assert torch.equal(loaded.score.weight, value.score.weight)
    assert torch.allclose(token_values(loaded, ids), token_values(value, ids), atol=1e-6)
    (name,) = cache_kwargs(None)
    assert name in inspect.signature(value.model.forward).parameters


def test_unsupported_architectures_are_refused_by_name(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'gpt2'.*phi3, qwen2, llama"):
        load_value_model(tmp_path)
