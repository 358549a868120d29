"""The micro generator: trained from scratch on the corpus, saved in HF layout, and it
writes responses in the product's format (reasoning sentence, one python block)."""
import json

from passlens_training.micro.corpus import build_corpus, chat_messages
from passlens_training.micro.generator import GeneratorConfig, train_generator
from passlens_training.micro.problems import generate_problems


def test_generator_learns_the_response_format_and_saves_hf_layout(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    problems = generate_problems(2, {"train": 3}, splits=("train",), prefix="corpus")
    examples = build_corpus(problems, samples_per_problem=2, wrong_rate=0.3, seed=0)
    cfg = GeneratorConfig(vocab_size=600, layers=2, hidden_size=64, steps=400, batch_size=8, lr=5e-3, max_positions=512)
    summary = train_generator(examples, tmp_path / "gen", cfg, progress=False)
    assert summary["final_loss"] < 1.0, summary  # from ~6.4 (uniform over the vocabulary)

    tok = AutoTokenizer.from_pretrained(tmp_path / "gen")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "gen").eval()
    assert model.config.model_type == "phi3" and model.config.num_hidden_layers == 2
    assert json.loads((tmp_path / "gen" / "config.json").read_text())["architectures"] == ["Phi3ForCausalLM"]
    prompt = tok.apply_chat_template(chat_messages(problems[0]), add_generation_prompt=True, tokenize=False)
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    torch.manual_seed(0)
    out = model.generate(**ids, do_sample=False, max_new_tokens=200)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "```python\n" in text and text.rstrip().endswith("```"), text
    assert out.shape[1] - ids["input_ids"].shape[1] < 200  # stopped at <|end|> on its own
