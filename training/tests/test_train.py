import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch
import yaml

from passlens_training.train.model import load_value_model
from passlens_training.testing.tiny import save_tiny_causal_lm
from passlens_training.train.trainer import load_train_config, train


END_ID = 4  # <|end|> in the tiny tokenizers (testing/tiny.py SPECIAL_TOKENS): generations end with it


def write_separable_dataset(path: Path, tokenizer_vocab: int, n_problems: int = 6, per_problem: int = 4, seed: int = 0) -> Path:
    """Rollout records whose label is visible in the generated tokens: passing rollouts use
    token ids from one range, failing ones from another."""
    rng = random.Random(seed)
    lines = []
    for p in range(n_problems):
        prompt = [rng.randrange(10, tokenizer_vocab) for _ in range(6)]
        for i in range(per_problem):
            passed = i % 2 == 0
            lo, hi = (10, 60) if passed else (60, 110)
            gen = [rng.randrange(lo, hi) for _ in range(rng.randrange(5, 9))] + [END_ID]
            lines.append(json.dumps({
                "rollout_id": f"p{p}/f{i}s0", "problem_id": f"p{p}", "split": "train", "difficulty": "introductory",
                "kind": "standard_input", "prompt_text": "", "prompt_token_ids": prompt, "token_ids": gen,
                "logprobs": [0.0] * len(gen), "text": "", "code": "print(1)" if passed else "print(2)", "code_start": 1,
                "branch": {"trunk_id": f"p{p}/t0", "role": "branch", "fork_position": 0, "fork_rank": 0, "sample_index": i},
                "label": passed, "test_results": [passed], "verdicts": ["pass" if passed else "wrong_answer"],
                "generator": {"id": "tiny", "revision": None},
                "sampling": {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 16}, "seed": 0}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return save_tiny_causal_lm(tmp_path_factory.mktemp("base") / "tiny", num_layers=3, hidden_size=32)


def write_config(tmp: Path, base: Path, data: Path, **train) -> Path:
    section = {"base_model": str(base), "train_data": [str(data)], "eval_data": [str(data)], "output_dir": str(tmp / "run"),
               "batch_size": 4, "learning_rate": 3e-3, "epochs": 2, "trainable_layers": 1, "max_length": 64, "seed": 0}
    section.update(train)
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"train": section}))
    return cfg


def run_train(cfg: Path) -> dict:
    return train(load_train_config(cfg))


def test_training_learns_separable_data_and_keeps_frozen_layers(tmp_path, tiny_base):
    data = write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400)
    cfg = write_config(tmp_path, tiny_base, data, epochs=8)
    summary = run_train(cfg)
    evals = summary["eval"]
    assert evals[-1]["accuracy"] > evals[0]["accuracy"] or evals[0]["accuracy"] == 1.0
    assert evals[-1]["accuracy"] >= 0.9 and evals[-1]["auroc"] >= 0.95
    base = load_value_model(tiny_base)
    final = load_value_model(tmp_path / "run")
    b, f = dict(base.named_parameters()), dict(final.named_parameters())
    frozen = [n for n in b if not n.startswith(("score", "model.norm", "model.layers.2."))]
    assert frozen and all(torch.equal(b[n], f[n]) for n in frozen)
    assert not torch.equal(b["model.layers.2.mlp.down_proj.weight"], f["model.layers.2.mlp.down_proj.weight"])
    info = json.loads((tmp_path / "run" / "passlens-training.json").read_text())
    assert info["base_model"] == str(tiny_base) and info["data"]["n_train_rollouts"] == 24
    assert list((tmp_path / "run").rglob("events.out.tfevents.*"))


def test_loss_goes_down(tmp_path, tiny_base):
    data = write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400)
    (tmp_path / "one").mkdir()
    (tmp_path / "six").mkdir()
    first = run_train(write_config(tmp_path / "one", tiny_base, data, max_steps=1, eval_data=[]))
    longer = run_train(write_config(tmp_path / "six", tiny_base, data, epochs=6, eval_data=[]))
    assert longer["final_loss"] < first["final_loss"] * 0.7


@pytest.mark.parametrize("options", [{}, {"shared_prompt_rollouts": 2, "lr_scheduler": "cosine", "warmup_ratio": 0.25}],
                         ids=["whole-sequences-constant-lr", "shared-prompts-cosine-warmup"])
def test_resume_continues_from_the_same_step(tmp_path, tiny_base, options):
    data = write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400)
    (tmp_path / "full").mkdir()
    (tmp_path / "split").mkdir()
    options = {"eval_data": [], "save_every_steps": 2, **options}
    full = run_train(write_config(tmp_path / "full", tiny_base, data, **options))
    cfg = write_config(tmp_path / "split", tiny_base, data, **options)
    part = train(load_train_config(cfg, {"max_steps": 4}))
    assert part["steps"] == 4
    resumed = train(load_train_config(cfg), resume=True)
    assert resumed["steps"] == full["steps"] and full["steps"] >= 12  # 24 rollouts, batches of <= 4, 2 epochs
    a = load_value_model(tmp_path / "full" / "run")
    b = load_value_model(tmp_path / "split" / "run")
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-5), name


def test_prompt_truncated_from_the_left_and_mask_covers_generated_tokens():
    from passlens_training.train.value_data import collate, to_example
    rec = {"rollout_id": "p/t0", "problem_id": "p", "prompt_token_ids": [1, 2, 3, 4, 5], "token_ids": [7, 8, 9], "label": True, "code_start": 1}
    e = to_example(rec, max_length=5)
    assert e.input_ids == [4, 5, 7, 8, 9] and e.n_prompt == 2
    assert to_example(rec, max_length=2) is None  # generation alone too long
    short = to_example({**rec, "prompt_token_ids": [1]}, max_length=8)
    batch = collate([e, short], pad_id=0)
    assert batch["token_mask"].tolist() == [[False, False, True, True, True], [False, True, True, True, False]]
    assert batch["attention_mask"].tolist()[1] == [1, 1, 1, 1, 0]
    assert collate([e], pad_id=0, include_prompt=True)["token_mask"].all()


def test_balanced_variant_reads_the_datasets_balanced_file(tmp_path, tiny_base):
    dataset = tmp_path / "dataset"
    (dataset / "shards").mkdir(parents=True)
    write_separable_dataset(dataset / "shards" / "rollouts-train-00000.jsonl", 400)
    write_separable_dataset(dataset / "balanced-train.jsonl", 400, n_problems=2)
    cfg = write_config(tmp_path, tiny_base, dataset, eval_data=[], balanced=True, max_steps=1)
    train(load_train_config(cfg))
    info = json.loads((tmp_path / "run" / "passlens-training.json").read_text())
    assert info["data"]["variant"] == "balanced" and info["data"]["n_train_rollouts"] == 8


def test_unknown_config_key_is_a_clear_error(tmp_path, tiny_base):
    cfg = write_config(tmp_path, tiny_base, tmp_path / "x.jsonl", learning_rat=1.0)
    with pytest.raises(ValueError, match="unknown train keys \\['learning_rat'\\]"):
        load_train_config(cfg)


def test_lora_run_saves_a_merged_value_model(tmp_path, tiny_base):
    data = write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400)
    cfg = write_config(tmp_path, tiny_base, data, eval_data=[], max_steps=2,
                       lora={"r": 4, "lora_alpha": 8, "target_modules": ["qkv_proj", "o_proj"]})
    train(load_train_config(cfg))
    merged = load_value_model(tmp_path / "run")
    base = load_value_model(tiny_base)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    # the LoRA update was merged into the attention weights
    assert not torch.equal(base.model.layers[0].self_attn.qkv_proj.weight, merged.model.layers[0].self_attn.qkv_proj.weight)
    assert torch.equal(base.model.layers[0].mlp.down_proj.weight, merged.model.layers[0].mlp.down_proj.weight)


def _shared_prompt_examples(seed: int = 0):
    from passlens_training.train.value_data import ValueExample

    rng = random.Random(seed)
    prompts = [[rng.randrange(2, 300) for _ in range(n)] for n in (17, 25, 9)]
    examples = []
    for k in range(11):
        prompt = prompts[k % 3]
        gen = [rng.randrange(2, 300) for _ in range(rng.randrange(1, 12))]
        examples.append(ValueExample(f"r{k}", f"p{k % 3}", prompt + gen, k % 2 == 0, len(prompt), 0))
    return examples


def test_shared_prompt_pass_gives_the_same_loss_and_gradients_as_whole_sequences(tiny_base):
    from passlens_training.train.model import freeze_all_but_last, shared_prompt_logits, value_loss
    from passlens_training.train.value_data import collate, collate_shared_prompt

    model = load_value_model(tiny_base).train()
    freeze_all_but_last(model, 2)  # a frozen first layer: the cache it feeds still carries gradients above it
    examples = _shared_prompt_examples()

    def loss_and_grads(compute):
        model.zero_grad()
        logits, labels, mask = compute()
        loss = value_loss(logits, labels, mask)
        loss.backward()
        return logits, loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    whole = collate(examples, pad_id=0)
    shared = collate_shared_prompt(examples, pad_id=0)
    assert shared["prompt_ids"].shape[0] == 3 and shared["gen_ids"].shape[0] == len(examples)
    full_logits, full_loss, full_grads = loss_and_grads(lambda: (
        model(input_ids=whole["input_ids"], attention_mask=whole["attention_mask"]).logits.squeeze(-1), whole["labels"], whole["token_mask"]))
    shared_logits, shared_loss, shared_grads = loss_and_grads(lambda: (
        shared_prompt_logits(model, shared), shared["labels"], shared["gen_mask"].bool()))
    assert shared_loss == pytest.approx(full_loss, abs=1e-6)
    for row, e in enumerate(examples):
        n_gen = len(e.input_ids) - e.n_prompt
        assert torch.allclose(full_logits[row, e.n_prompt:len(e.input_ids)], shared_logits[row, :n_gen], atol=1e-5), row
    for name, grad in full_grads.items():
        assert torch.allclose(grad, shared_grads[name], atol=1e-6), name
    assert any(g.abs().sum() > 0 for n, g in shared_grads.items() if ".layers.1." in n), "no gradient reached the layer under the cache"


def test_shared_prompt_batches_cover_every_rollout_once_in_prompt_chunks():
    from passlens_training.train.value_data import shared_prompt_batches

    examples = _shared_prompt_examples()
    batches = shared_prompt_batches(examples, batch_size=4, rollouts_per_prompt=2, rng=random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(len(examples)))
    assert all(1 <= len(batch) <= 4 for batch in batches)
    # 3 prompts with 4, 4 and 3 rollouts -> 6 chunks of <= 2; a batch holds whole chunks.
    assert len(batches) >= 3 and sum(len(b) % 2 for b in batches) <= 1, batches
    assert batches == shared_prompt_batches(examples, 4, 2, random.Random(1)), "a seed gives the same epoch"
    with pytest.raises(ValueError, match="rollouts_per_prompt"):
        shared_prompt_batches(examples, batch_size=4, rollouts_per_prompt=5, rng=random.Random(1))


def test_shared_prompt_with_prompt_loss_is_a_clear_error(tmp_path, tiny_base):
    data = write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400)
    cfg = write_config(tmp_path, tiny_base, data, shared_prompt_rollouts=2, include_prompt=True)
    with pytest.raises(ValueError, match="include_prompt"):
        run_train(cfg)


def test_merged_duplicates_give_the_same_loss_and_gradients_as_their_copies(tiny_base):
    from passlens_training.train.model import value_loss
    from passlens_training.train.value_data import collate, merge_duplicates

    model = load_value_model(tiny_base).train()
    distinct = _shared_prompt_examples()[:5]
    # Copies as sampling makes them: the same tokens and label under other rollout ids.
    copies = [e for k, e in enumerate(distinct) for _ in range(k % 3 + 1)]
    copies = [dataclasses.replace(e, rollout_id=f"{e.rollout_id}/copy{i}") for i, e in enumerate(copies)]
    relabelled = dataclasses.replace(distinct[0], rollout_id="flip", label=not distinct[0].label)
    merged = merge_duplicates(copies + [relabelled])
    assert [e.weight for e in merged] == [1, 2, 3, 1, 2, 1], "one per distinct (tokens, label), counted"

    def loss_and_grads(examples):
        model.zero_grad()
        batch = collate(examples, pad_id=0)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = value_loss(logits, batch["labels"], batch["token_mask"], batch["weights"])
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    full_loss, full_grads = loss_and_grads(copies + [relabelled])
    merged_loss, merged_grads = loss_and_grads(merged)
    assert merged_loss == pytest.approx(full_loss, abs=1e-6)
    for name, grad in full_grads.items():
        assert torch.allclose(grad, merged_grads[name], atol=1e-6), name
    with torch.no_grad():
        batch = collate(merged, pad_id=0)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        unweighted = value_loss(logits, batch["labels"], batch["token_mask"]).item()
    assert unweighted != pytest.approx(full_loss, abs=1e-4), "without the weights the loss differs"


def test_merged_deterministic_shared_prompt_runs_learn_and_repeat_exactly(tmp_path, tiny_base):
    data = write_separable_dataset(tmp_path / "rollouts-train-00000.jsonl", 400)
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines + [line.replace('"rollout_id": "p', '"rollout_id": "copy-p') for line in lines]) + "\n")
    weights = []
    try:
        for run in ("a", "b"):
            cfg = write_config(tmp_path, tiny_base, data, epochs=16, merge_duplicates=True, shared_prompt_rollouts=4,
                               batch_size=8, deterministic=True, output_dir=str(tmp_path / run))
            summary = run_train(cfg)
            assert torch.are_deterministic_algorithms_enabled()
            weights.append(load_value_model(tmp_path / run).state_dict())
    finally:
        torch.use_deterministic_algorithms(False)
    assert summary["eval"][-1]["auroc"] >= 0.95, summary["eval"]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0]), "two deterministic runs differ"
