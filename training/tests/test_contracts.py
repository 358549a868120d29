"""The shared contracts (contracts/), Python side: every case file runs here and in the
TypeScript suite (test/unit/contracts.test.ts); the schemas are valid and describe what the
stages write (the stage tests validate their outputs against them too)."""
import json

import jsonschema
import pytest

from passlens_training import contracts
from passlens_training.evaluate import guided_simulation as gs
from passlens_training.testing.tiny import train_tokenizer


def load(name):
    return json.loads((contracts.contracts_dir() / "cases" / name).read_text(encoding="utf-8"))


def test_every_case_file_has_a_runner_here():
    assert sorted(p.name for p in contracts.case_files()) == sorted(RUNNERS)


@pytest.mark.parametrize("case", load("code-extraction.json")["cases"], ids=lambda c: c["name"])
def test_code_extraction_case(case):
    assert contracts.extract_code(case["response"]) == (case["code"], case["start"])


@pytest.mark.parametrize("case", load("ranking-index.json")["cases"], ids=lambda c: c["name"])
def test_ranking_index_case(case):
    assert contracts.ranking_index(case["token_ids"], load("ranking-index.json")["special_ids"]) == case["index"]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer()


@pytest.mark.parametrize("case", load("prompts.json")["cases"], ids=lambda c: c["name"])
def test_prompt_case(case, tokenizer):
    p = case["problem"]
    templates = case.get("templates") or contracts.load_templates()  # a case may carry its own, as a bundle does
    messages = contracts.build_messages(p["question"], p["starter_code"], p["kind"], templates)
    assert messages == case["messages"]
    rendered = tokenizer.apply_chat_template(messages, chat_template=case["chat_template"], add_generation_prompt=True,
                                             tokenize=False)
    assert rendered == case["rendered"]


def char_values(text):
    """The scripted critic of the case file: digit/10 + 0.05 after a digit, the previous value otherwise (0.5 at first)."""
    values, value = [], 0.5
    for ch in text:
        value = int(ch) / 10 + 0.05 if ch.isdigit() else value
        values.append(value)
    return values


def scripted_rollout(text, logprobs=None):
    return gs.Rollout(tuple(map(ord, text)), tuple(char_values(text)), tuple(logprobs or [0.0] * len(text)), True)


@pytest.mark.parametrize("case", load("guided-search.json")["cases"], ids=lambda c: c["name"])
def test_guided_search_case(case):
    pool = gs.Pool("case", [scripted_rollout(r["text"], r.get("logprobs")) for r in case["roots"]],
                   {tuple(map(ord, prefix)): [scripted_rollout(prefix + t) for t in texts]
                    for prefix, texts in case["continuations"].items()})
    outcome = gs.simulate(pool, gs.Policy(**case["policy"]), case["max_new_tokens"], case["token_budget"])
    got = [{"index": c.index, "text": "".join(map(chr, c.token_ids)), "finish": c.finish, "tokens": c.tokens,
            "pruned": c.pruned, "branch": None if c.branch is None else {"from": c.branch[0], "at": c.branch[1]}}
           for c in outcome.candidates]
    assert got == case["expect"]
    assert outcome.tokens == sum(c.tokens for c in outcome.candidates)


@pytest.mark.parametrize("case", load("calibration.json")["cases"], ids=lambda c: c["name"])
def test_calibration_case(case):
    assert contracts.calibrate(case["values"], case["calibration"]) == pytest.approx(case["expected"], abs=1e-9, rel=0)


@pytest.mark.parametrize("case", load("calibration.json")["rejected"], ids=lambda c: c["name"])
def test_calibration_rejects(case):
    with pytest.raises(ValueError):
        contracts.calibrate([0.5], case["calibration"])


RUNNERS = {"code-extraction.json": test_code_extraction_case, "ranking-index.json": test_ranking_index_case,
           "prompts.json": test_prompt_case, "guided-search.json": test_guided_search_case,
           "calibration.json": test_calibration_case}


@pytest.mark.parametrize("name", [p.name.removesuffix(".schema.json") for p in (contracts.contracts_dir() / "schemas").glob("*.json")])
def test_schemas_are_valid_json_schemas(name):
    jsonschema.Draft202012Validator.check_schema(contracts.schema(name))


def test_schema_validation_rejects_what_breaks_the_contract():
    good = {"problem_id": "p", "rollout_id": "p/t0", "passed": True, "values": [0.5, 0.9], "code_start": 0, "rank_index": 1}
    contracts.validate(good, "scores-record")
    for broken in ({**good, "values": []}, {**good, "values": [1.5]}, {k: v for k, v in good.items() if k != "rank_index"}):
        with pytest.raises(jsonschema.ValidationError):
            contracts.validate(broken, "scores-record")


def test_templates_come_from_contracts_and_reject_incomplete_files(tmp_path):
    assert contracts.load_templates() == json.loads((contracts.contracts_dir() / "prompt_templates.json").read_text())
    partial = tmp_path / "t.json"
    partial.write_text(json.dumps({"system": "s", "standard_input": "{question}"}))
    with pytest.raises(ValueError, match="call_based"):
        contracts.load_templates(partial)
