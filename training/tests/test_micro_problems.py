"""Micro-APPS: deterministic, both kinds, and judged by the real sandbox as designed:
every reference solution passes and every single decisive mistake fails."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from passlens_training.contracts import load_templates
from passlens_training.micro.corpus import build_corpus, chat_messages
from passlens_training.micro.problems import WRONG, families_for, generate_problems, render

JUDGE = Path(__file__).resolve().parents[2] / "python-sandbox" / "judge.py"


def judge(requests):
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    out = subprocess.run([sys.executable, str(JUDGE), "--workers", "2", "--compare", "strict"], input=lines,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    responses = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(responses) == len(requests), out
    return {r["id"]: r for r in responses}


def test_generation_is_deterministic_and_seed_dependent():
    a = generate_problems(3, 2)
    assert a == generate_problems(3, 2)
    assert a != generate_problems(4, 2)


def test_three_disjoint_family_splits_in_both_kinds():
    problems = generate_problems(0, {"train": 1, "validation": 1, "test": 1})
    kinds = {(p["split"], p["io_type"]) for p in problems}
    assert kinds == {(s, k) for s in ("train", "validation", "test") for k in ("standard_input", "call_based")}
    families = {s: {p["micro"]["family"] for p in problems if p["split"] == s} for s in ("train", "validation", "test")}
    assert all(families.values()) and not families["train"] & families["validation"]
    assert not families["train"] & families["test"] and not families["validation"] & families["test"]
    for split, names in families.items():
        assert {f.name for f in families_for(split)} == names
    # the families every tuning session read (docs/micro-recipe.md) are validation, not test
    assert families["validation"] == {"digits_cmp", "distinct_cmp", "product_range", "squares_below"}
    with pytest.raises(ValueError, match="unknown micro split"):
        families_for("held_out")
    for p in problems:
        io = p["input_output"]
        assert len(io["inputs"]) == len(io["outputs"]) == p["n_tests"] > 0
        assert ("fn_name" in io) == (p["io_type"] == "call_based") == bool(p["starter_code"])


def test_references_pass_and_every_single_slot_mistake_fails_in_the_real_judge():
    problems = generate_problems(11, {"train": 1, "validation": 1, "test": 1})
    requests = []
    for p in problems:
        micro = p["micro"]
        requests.append({"id": p["problem_id"] + "#ref", "code": p["solutions"][0], "tests": p["input_output"]})
        for slot, code in micro["correct"].items():
            wrong = render(micro["template"], {**micro["correct"], slot: WRONG[slot][code]})
            requests.append({"id": f"{p['problem_id']}#{slot}", "code": wrong, "tests": p["input_output"]})
    verdicts = judge(requests)
    for rid, response in verdicts.items():
        assert "error" not in response, response
        assert response["passed"] == rid.endswith("#ref"), (rid, response["verdicts"])


def test_corpus_uses_the_product_prompts_and_controls_the_wrong_share():
    problems = generate_problems(5, {"train": 3, "test": 0}, splits=("train",))
    templates = load_templates()
    messages = chat_messages(problems[0], templates)
    assert messages[0] == {"role": "system", "content": templates["system"]}
    assert problems[0]["question"].strip() in messages[1]["content"]
    corpus = build_corpus(problems, samples_per_problem=20, wrong_rate=0.3, seed=0)
    share_right = sum(e.correct for e in corpus) / len(corpus)
    # one or two slots per problem, each right with 0.7: between 0.49 and 0.7 overall
    assert 0.4 < share_right < 0.8
    for example in random.Random(0).sample(corpus, 10):
        reasoning, _, rest = example.response.partition("\n\n```python\n")
        assert reasoning and "\n" not in reasoning and rest.endswith("```") and rest.count("```") == 1
