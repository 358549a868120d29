"""The pieces every stage leans on: configs as data, the stage CLI, the tiny model factory."""
from dataclasses import dataclass, field

import pytest

from passlens_training import cli
from passlens_training.config import load_section
from passlens_training.testing.tiny import save_tiny_causal_lm, train_tokenizer


@dataclass
class Inner:
    k: int = 6


@dataclass
class Section:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_load_section_builds_nested_dataclasses(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stage:\n  name: micro\n  inner: {k: 3}\n")
    section = load_section(path, "stage", Section)
    assert section.name == "micro" and section.inner.k == 3


def test_load_section_rejects_typos(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stage:\n  nmae: micro\n")
    with pytest.raises(ValueError, match="nmae"):
        load_section(path, "stage", Section)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_section(tmp_path / "nope.yaml", "stage", Section)


def test_cli_rejects_unknown_stage(capsys):
    assert cli.main(["bogus"]) == 2
    assert "unknown stage" in capsys.readouterr().err


def test_tokenizer_round_trips_unicode_and_keeps_chat_markers():
    tok = train_tokenizer()
    text = "def f(x):\n\treturn 'café 🙂'\n"
    assert tok.decode(tok.encode(text)) == text
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert prompt == "<|user|>hi<|end|><|assistant|>"
    ids = tok.convert_tokens_to_ids(["<|user|>", "<|end|>", "<|assistant|>"])
    assert len(set(ids)) == 3 and tok.unk_token_id not in ids


def test_tiny_causal_lm_saves_in_hf_layout_and_generates(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = save_tiny_causal_lm(tmp_path / "tiny")
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "phi3"
    batch = tok("def f():", return_tensors="pt")
    generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == batch["input_ids"].shape[1] + 4 or tok.eos_token_id in generated[0].tolist()
