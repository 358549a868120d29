"""Training the top layers on cached hidden states gives the whole model's logits and gradients."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from passlens_training.testing.tiny import tiny_decoder_config, train_tokenizer
from passlens_training.train.hidden_cache import HiddenStateCache, sequence_key
from passlens_training.train.model import VALUE_ARCHITECTURES, freeze_all_but_last, value_loss, value_model_from_config
from passlens_training.train.value_data import ValueExample, collate

LAYERS, TRAINABLE = 4, 2
FIRST = LAYERS - TRAINABLE


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer()


def _model(tokenizer, model_type, seed=0):
    config = tiny_decoder_config(model_type, len(tokenizer), num_layers=LAYERS, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
    model = value_model_from_config(config, seed=seed)
    with torch.no_grad():  # a head that says something, so gradients reach every layer
        model.score.weight.normal_(std=0.5)
    freeze_all_but_last(model, TRAINABLE)
    return model.train()


def _examples(tokenizer):
    prompt_a = tokenizer.encode("Add two numbers read from input.")
    prompt_b = tokenizer.encode("Print the list reversed, one item per line, please.")
    gens = [("n = int(input())\nprint(n + 1)\n", True), ("print(input()[::-1])\n", False),
            ("x = 1\n", False), ("for i in range(3):\n    print(i)\n", True)]
    out = []
    for i, (text, label) in enumerate(gens):
        prompt = prompt_a if i % 2 == 0 else prompt_b
        out.append(ValueExample(f"p{i % 2}/r{i}", f"p{i % 2}", prompt + tokenizer.encode(text), label, len(prompt), 0))
    return out


def _full_logits(model, examples, pad_id):
    batch = collate(examples, pad_id)
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1), batch


@pytest.mark.parametrize("model_type", sorted(VALUE_ARCHITECTURES))
def test_cached_top_layers_give_the_whole_models_logits_and_gradients(tmp_path, tokenizer, model_type):
    pad = tokenizer.pad_token_id
    model = _model(tokenizer, model_type)
    examples = _examples(tokenizer)
    cache = HiddenStateCache.build(tmp_path / "cache", model, FIRST, examples, pad, "cpu", batch_size=3, progress=False)

    full, batch = _full_logits(model, examples, pad)
    value_loss(full, batch["labels"], batch["token_mask"]).backward()
    full_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()

    cached, cbatch = cache.logits(model, examples, pad, SimpleNamespace(include_prompt=False), "cpu")
    real = batch["attention_mask"].bool()
    assert torch.equal(cbatch["token_mask"], batch["token_mask"])
    assert (cached - full)[real].abs().max() < 1e-5
    value_loss(cached, cbatch["labels"], cbatch["token_mask"]).backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert torch.allclose(param.grad, full_grads[name], atol=1e-5, rtol=1e-4), name
        else:
            assert param.grad is None, name
    # the frozen layers are back in place after the cached forward
    again, _ = _full_logits(model, examples, pad)
    assert torch.equal(again, full)


def test_a_killed_build_resumes_and_a_cache_of_other_weights_is_rebuilt(tmp_path, tokenizer):
    pad = tokenizer.pad_token_id
    model = _model(tokenizer, "qwen2")
    examples = _examples(tokenizer)
    folder = tmp_path / "cache"
    HiddenStateCache.build(folder, model, FIRST, examples[:2], pad, "cpu", progress=False)
    with open(folder / "hidden.f32", "ab") as fh:  # rows written after the last index: a kill mid-batch
        fh.write(b"\x01" * 1000)
    cache = HiddenStateCache.build(folder, model, FIRST, examples, pad, "cpu", progress=False)
    fresh = HiddenStateCache.build(tmp_path / "fresh", model, FIRST, examples, pad, "cpu", progress=False)
    assert (folder / "hidden.f32").stat().st_size == sum(len(e.input_ids) for e in examples) * model.config.hidden_size * 4
    for e in examples:
        key = sequence_key(e.input_ids)
        assert np.abs(cache.rows(key) - fresh.rows(key)).max() < 1e-6

    other = _model(tokenizer, "qwen2", seed=1)
    rebuilt = HiddenStateCache.build(folder, other, FIRST, examples, pad, "cpu", progress=False)
    expected = HiddenStateCache.build(tmp_path / "other", other, FIRST, examples, pad, "cpu", progress=False)
    key = sequence_key(examples[0].input_ids)
    assert np.abs(rebuilt.rows(key) - expected.rows(key)).max() < 1e-6
    assert np.abs(rebuilt.rows(key) - fresh.rows(key)).max() > 1e-3


def test_hidden_states_need_a_frozen_layer_below_a_trainable_one(tmp_path, tokenizer):
    model = _model(tokenizer, "llama")
    with pytest.raises(ValueError, match="frozen layers below a trainable one"):
        HiddenStateCache.build(tmp_path, model, LAYERS, _examples(tokenizer), tokenizer.pad_token_id, "cpu", progress=False)


def test_training_with_the_cache_ends_where_training_without_it_does(tmp_path):
    """The trainer's `hidden_states_cache` option: same batches, same steps, same weights."""
    import yaml

    from passlens_training.testing.tiny import save_tiny_causal_lm
    from passlens_training.train.model import load_value_model
    from passlens_training.train.trainer import load_train_config, train
    from test_train import write_separable_dataset

    base = save_tiny_causal_lm(tmp_path / "base", num_layers=3, hidden_size=32)
    data = write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400)

    def run(name, **extra):
        section = {"base_model": str(base), "train_data": [str(data)], "output_dir": str(tmp_path / name), "batch_size": 4,
                   "learning_rate": 3e-3, "epochs": 2, "trainable_layers": 1, "max_length": 64, "seed": 0, **extra}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"train": section}))
        return train(load_train_config(tmp_path / f"{name}.yaml"))

    whole = run("whole")
    cached = run("cached", hidden_states_cache=str(tmp_path / "hidden"))
    assert cached["steps"] == whole["steps"] and cached["final_loss"] == pytest.approx(whole["final_loss"], abs=1e-5)
    a, b = load_value_model(tmp_path / "whole"), load_value_model(tmp_path / "cached")
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-5), name
    assert (tmp_path / "hidden" / "index.json").is_file()
    with pytest.raises(ValueError, match="shared_prompt_rollouts: 0"):
        run("both", hidden_states_cache=str(tmp_path / "hidden"), shared_prompt_rollouts=2)
