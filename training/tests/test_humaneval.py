"""HumanEval as a problem source: the pinned data, its problems and prompts, a three-way
split, and labels from the judge's check programs (canonical solutions pass, wrong ones fail)."""
import pytest

from passlens_training.contracts import load_templates
from passlens_training.data.apps import load_problems, make_split
from passlens_training.data.humaneval import load_humaneval
from passlens_training.data.prompts import build_messages
from passlens_training.rollouts.judging import Judge
from passlens_training.testing.real import require_asset

# A hidden set of wrong programs, one family of mistake each, made from the canonical
# solutions by replacing one piece: (task, family, canonical text, wrong text).
WRONG = [
    ("HumanEval/15", "off by one", "range(n + 1)", "range(n)"),
    ("HumanEval/60", "off by one", "range(n + 1)", "range(n)"),
    ("HumanEval/100", "off by one", "for i in range(n)", "for i in range(n - 1)"),
    ("HumanEval/106", "off by one", "for i in range(1,n+1)", "for i in range(1,n)"),
    ("HumanEval/23", "off by one", "return len(string)", "return len(string) - 1"),
    ("HumanEval/23", "wrong return type", "return len(string)", "return str(len(string))"),
    ("HumanEval/12", "wrong return type", "return s", "return [s]"),
    ("HumanEval/12", "exception on an edge case", "return None", "return strings[0]"),
    ("HumanEval/55", "wrong base case", "if n == 1:\n        return 1", "if n == 1:\n        return 2"),
]


@pytest.fixture(scope="module")
def problems():
    require_asset("humaneval")
    return {p.problem_id: p for p in load_humaneval()}


@pytest.fixture(scope="module")
def judge():
    return Judge(workers=2)


def test_humaneval_loads_as_call_based_problems_with_check_programs(problems):
    assert len(problems) == 164
    p = problems["HumanEval/0"]
    assert p.kind == "call_based" and p.difficulty == "humaneval"
    assert p.tests["entry_point"] == "has_close_elements" and "def check(candidate)" in p.tests["check"]
    assert p.starter_code.startswith("from typing import List") and p.solutions[0].startswith(p.starter_code)
    user = build_messages(p, load_templates())[1]["content"]
    assert "`has_close_elements`" in user and "def has_close_elements(numbers: List[float], threshold: float) -> bool:" in user
    assert [q.problem_id for q in load_problems("humaneval")] == list(problems)


def test_humaneval_has_one_split_and_make_split_divides_it_three_ways(problems):
    with pytest.raises(ValueError, match="no 'test' split"):
        load_problems("humaneval", split="test")
    split = make_split(problems, 0.3, seed=7, validation_fraction=0.15)
    assert [len(split[k]) for k in ("train", "validation", "test")] == [90, 25, 49]
    assert set(split["train"]) | set(split["validation"]) | set(split["test"]) == set(problems)
    assert not set(split["train"]) & set(split["test"]) and not set(split["validation"]) & set(split["test"])
    assert make_split(problems, 0.3, seed=7, validation_fraction=0.15) == split
    assert make_split(problems, 0.3, seed=8, validation_fraction=0.15)["test"] != split["test"]
    assert set(make_split(problems, 0.3, seed=7)) == {"train", "test"}
    with pytest.raises(ValueError, match="no problem to train on"):
        make_split(problems, 0.7, seed=0, validation_fraction=0.4)


def test_every_canonical_solution_passes_its_check_program(problems, judge):
    verdicts = judge.judge([(pid, p.solutions[0], p.tests) for pid, p in problems.items()])
    failed = {v["id"]: (v["verdicts"], v.get("stderr", "")[-200:]) for v in verdicts if not v["passed"]}
    assert not failed
    assert all(v["isolation"] != "weak" for v in verdicts)


def test_wrong_solutions_fail_their_check_programs(problems, judge):
    items = []
    for task, family, right, wrong in WRONG:
        canonical = problems[task].solutions[0]
        assert right in canonical, (task, right)
        items.append((f"{task} {family}", canonical.replace(right, wrong, 1), problems[task].tests))
    # Two mistakes every problem's check must catch: the entry point raises, or returns the
    # right value as a string (a wrong type).
    for pid, p in problems.items():
        entry = p.tests["entry_point"]
        items.append((f"{pid} raises", p.solutions[0] + f"\n\ndef {entry}(*args):\n    raise RuntimeError('wrong')\n", p.tests))
        items.append((f"{pid} repr", p.solutions[0] + f"\n\n_right = {entry}\n\ndef {entry}(*args):\n    return repr(_right(*args))\n",
                      p.tests))
    verdicts = {v["id"]: v for v in judge.judge(items)}
    passed = sorted(rid for rid, v in verdicts.items() if v["passed"])
    assert not passed
    assert {verdicts[f"{t} {f}"]["verdicts"][0] for t, f, _, _ in WRONG} <= {"wrong_answer", "runtime_error"}
    assert verdicts["HumanEval/12 exception on an edge case"]["verdicts"] == ["runtime_error"]
    assert verdicts["HumanEval/15 off by one"]["verdicts"] == ["wrong_answer"]
