"""APPS loading (sample JSONL, original folder layout), splits, prompts, code extraction."""
import json
from pathlib import Path

import pytest

from passlens_training.data.apps import LoadReport, load_or_make_split, load_problems, make_split
from passlens_training.contracts import extract_code
from passlens_training.rollouts.forking import code_start_token
from passlens_training.data.prompts import build_prompt
from passlens_training.contracts import load_templates
from passlens_training.testing.tiny import train_tokenizer

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "apps-sample" / "problems.jsonl"


def test_sample_jsonl_loads_both_kinds_with_tests():
    report = LoadReport()
    problems = load_problems(str(SAMPLE), split="train", report=report)
    assert problems and all(p.problem_id.startswith("train/") for p in problems)
    kinds = {p.kind for p in problems}
    assert kinds == {"standard_input", "call_based"}
    for p in problems:
        assert len(p.tests["inputs"]) == len(p.tests["outputs"]) > 0
        assert (p.kind == "call_based") == bool(p.tests.get("fn_name"))
    call = next(p for p in problems if p.kind == "call_based")
    assert call.starter_code.strip()
    assert report.loaded == len(problems)


def test_folder_layout_and_problems_without_tests_are_counted(tmp_path):
    for name, io, meta in [("0000", {"inputs": ["1\n"], "outputs": ["2\n"]}, {"difficulty": "interview"}),
                           ("0001", {"inputs": [[1, 2]], "outputs": [[3]], "fn_name": "add"}, {"difficulty": "introductory"}),
                           ("0002", None, {})]:
        folder = tmp_path / "train" / name
        folder.mkdir(parents=True)
        (folder / "question.txt").write_text(f"question {name}")
        (folder / "metadata.json").write_text(json.dumps(meta))
        if io is not None:
            (folder / "input_output.json").write_text(json.dumps(io))
        (folder / "solutions.json").write_text(json.dumps(["print(2)"]))
    (tmp_path / "train" / "0001" / "starter_code.py").write_text("def add(a, b):\n")
    report = LoadReport()
    problems = load_problems(str(tmp_path), split="train", report=report)
    assert [p.problem_id for p in problems] == ["train/0000", "train/0001"]
    assert [p.kind for p in problems] == ["standard_input", "call_based"]
    assert problems[1].starter_code == "def add(a, b):\n" and problems[0].difficulty == "interview"
    assert report.skipped_no_tests == 1 and report.skipped_ids == ["train/0002"]


def test_hub_schema_parquet(tmp_path):
    """The hub's parquet conversion's schema, written locally (tests never reach the hub)."""
    import datasets

    rows = [r for r in map(json.loads, SAMPLE.read_text().splitlines()) if r["problem_id"].startswith("train/")][:6]
    hub_rows = [{"problem_id": int(r["problem_id"].split("/")[1]), "question": r["question"],
                 "solutions": json.dumps(r["solutions"]), "input_output": json.dumps(r["input_output"]),
                 "difficulty": r["difficulty"], "url": r["url"], "starter_code": r["starter_code"]} for r in rows]
    hub_rows.append({**hub_rows[0], "problem_id": 4999, "input_output": ""})
    (tmp_path / "train").mkdir()
    datasets.Dataset.from_list(hub_rows).to_parquet(str(tmp_path / "train" / "0000.parquet"))
    report = LoadReport()
    problems = load_problems(str(tmp_path / "{split}" / "*.parquet"), split="train", report=report)
    expected = load_problems(str(SAMPLE))[:6]
    assert [(p.problem_id, p.tests, p.kind, p.starter_code) for p in problems] == \
        [(p.problem_id, p.tests, p.kind, p.starter_code) for p in expected]
    assert report.skipped_ids == ["train/4999"]


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="APPS source not found"):
        load_problems(str(tmp_path / "nope.jsonl"))


def test_split_is_seeded_disjoint_and_recorded(tmp_path):
    ids = [f"train/{i:04d}" for i in range(100)]
    a, b, c = make_split(ids, 0.2, 1), make_split(reversed(ids), 0.2, 1), make_split(ids, 0.2, 2)
    assert a == b and a != c
    assert len(a["test"]) == 20 and not set(a["train"]) & set(a["test"]) and set(a["train"]) | set(a["test"]) == set(ids)
    split_file = tmp_path / "split.json"
    first = load_or_make_split(split_file, ids, 0.2, 1)
    again = load_or_make_split(split_file, ids[:10], 0.5, 99)  # the file wins over new arguments
    assert first == again == a
    # every list in a split file is a split (the micro world has train, validation and test)
    three = tmp_path / "three.json"
    three.write_text(json.dumps({"train": ids[:5], "validation": ids[5:7], "test": ids[7:9], "seed": 3}))
    assert load_or_make_split(three, ids, 0.2, 1) == {"train": ids[:5], "validation": ids[5:7], "test": ids[7:9]}


def test_prompt_uses_the_right_template_through_the_chat_template():
    tokenizer = train_tokenizer()
    templates = load_templates()
    problems = load_problems(str(SAMPLE))
    for kind in ("standard_input", "call_based"):
        p = next(x for x in problems if x.kind == kind)
        text, ids = build_prompt(p, tokenizer, templates)
        assert text.startswith("<|system|>") and text.endswith("<|assistant|>")
        assert p.question in text and ("Starter code" in text) == (kind == "call_based")
        assert tokenizer.decode(ids) == text


@pytest.mark.parametrize("text,code", [
    ("plan\n```python\na = 1\n```\nthen\n```python\nb = 2\n```\n", "b = 2\n"),
    ("```\nx = 3\n```", "x = 3\n"),
    ("think\n```python\nprint(1)\nprint(2", "print(1)\nprint(2"),
    ("no code at all", ""),
])
def test_extract_code_last_block_and_fallbacks(text, code):
    assert extract_code(text)[0] == code


def test_code_start_is_the_token_holding_the_first_code_character():
    tokenizer = train_tokenizer()
    text = "First, read the input.\n```python\nn = int(input())\nprint(n)\n```\n"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    code, offset = extract_code(text)
    start = code_start_token(tokenizer, ids, offset)
    assert len(tokenizer.decode(ids[:start])) <= offset < len(tokenizer.decode(ids[: start + 1]))
    assert code.split("\n")[0] in tokenizer.decode(ids[start:]) and start > 0
