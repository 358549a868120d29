"""Forking rollouts with a tiny random Phi-3 (real transformers sampling, real sandbox judge)."""
from pathlib import Path

import pytest
import torch

from passlens_training.data.apps import load_problems
from passlens_training.rollouts.balance import balance
from passlens_training.rollouts.generation import HFBackend, Sample, SamplingConfig, vllm_logprobs_mode
from passlens_training.rollouts.judging import Judge
from passlens_training.data.prompts import build_prompt
from passlens_training.contracts import load_templates
from passlens_training.rollouts.forking import ForkingConfig, generate_problem_rollouts, select_forks
from passlens_training.testing.tiny import save_tiny_causal_lm

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "apps-sample" / "problems.jsonl"


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    path = save_tiny_causal_lm(tmp_path_factory.mktemp("gen"), seed=3)
    return HFBackend(str(path), SamplingConfig(temperature=0.8))


@pytest.fixture(scope="module")
def problems():
    return load_problems(str(SAMPLE))


@pytest.fixture(scope="module")
def judge():
    # These tests are about labels, not isolation (test_build_dataset.py covers that): they run
    # on machines without bubblewrap too.
    return Judge(workers=2, allow_weak_isolation=True)


def test_select_forks_lowest_ties_earliest_and_min_distance():
    lps = [-1.0, -3.0, -0.5, -3.0, -2.0, -3.0]
    assert select_forks(lps, 3) == [1, 3, 5]
    assert select_forks(lps, 2) == [1, 3]
    assert select_forks(lps, 3, min_distance=3) == [1, 5]  # 3 is too close to 1; 4 too close to 5
    assert select_forks(lps, 10) == [1, 3, 5, 4, 0, 2]


def test_logprobs_are_the_models_and_branches_share_the_trunk(backend, problems, judge):
    problem = next(p for p in problems if p.kind == "call_based")
    _, prompt_ids = build_prompt(problem, backend.tokenizer, load_templates())
    cfg = ForkingConfig(num_forks=3, samples_per_fork=2, max_new_tokens=20)
    records = generate_problem_rollouts(problem, prompt_ids, backend, judge, backend.tokenizer, cfg, seed=7)
    trunk, branches = records[0], records[1:]
    assert len(records) == 1 + 3 * 2 and trunk["branch"]["role"] == "trunk"

    # The recorded log-probabilities are the model's (temperature-scaled) ones for the sampled tokens.
    ids = torch.tensor([prompt_ids + trunk["token_ids"]])
    with torch.no_grad():
        logits = backend.model(ids).logits[0, len(prompt_ids) - 1:-1].float() / 0.8
    expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(trunk["token_ids"])[:, None])[:, 0]
    assert torch.allclose(expected, torch.tensor(trunk["logprobs"]), atol=1e-4)

    # A branch's own tokens too (sampled on the trunk prefix's cache, copied to its M samples).
    branch = max(branches, key=lambda b: len(b["token_ids"]) - b["branch"]["fork_position"])
    pos = branch["branch"]["fork_position"]
    ids = torch.tensor([prompt_ids + branch["token_ids"]])
    with torch.no_grad():
        logits = backend.model(ids).logits[0, len(prompt_ids) - 1:-1].float() / 0.8
    expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(branch["token_ids"])[:, None])[:, 0]
    assert torch.allclose(expected[pos:], torch.tensor(branch["logprobs"][pos:]), atol=1e-4)

    # Forks are exactly the K least likely generated tokens, in rank order.
    ranked = sorted(range(len(trunk["logprobs"])), key=lambda i: (trunk["logprobs"][i], i))[:3]
    positions = sorted({(b["branch"]["fork_rank"], b["branch"]["fork_position"]) for b in branches})
    assert [pos for _, pos in positions] == ranked
    for b in branches:
        pos = b["branch"]["fork_position"]
        assert b["token_ids"][:pos] == trunk["token_ids"][:pos]
        assert b["logprobs"][:pos] == trunk["logprobs"][:pos]
        assert len(b["token_ids"]) <= cfg.max_new_tokens and b["branch"]["trunk_id"] == trunk["rollout_id"]
    # M samples of one fork are different draws.
    by_rank = {}
    for b in branches:
        by_rank.setdefault(b["branch"]["fork_rank"], []).append(tuple(b["token_ids"]))
    assert any(len(set(v)) > 1 for v in by_rank.values())
    # Labels are the sandbox's verdicts on the extracted code.
    verdicts = judge.judge([(r["rollout_id"], r["code"], problem.tests) for r in records])
    assert [r["label"] for r in records] == [v["passed"] for v in verdicts]


class ReplayBackend:
    """Stands in for a model that writes a fixed response (a reference solution in a python
    block), so the labelling path sees code that can pass. Log-probabilities are a fixed pattern."""

    generator_id, revision = "replay", None

    def __init__(self, response_ids):
        self.response = response_ids
        self.lps = [-float((i * 7) % 5) - 0.1 for i in range(len(response_ids))]

    def generate(self, requests):
        out = []
        for r in requests:
            done = len(r.prefix_ids) - self.prompt_len
            out.append([Sample(self.response[done:done + r.max_new_tokens], self.lps[done:done + r.max_new_tokens])] * r.n)
        return out


@pytest.mark.parametrize("kind", ["standard_input", "call_based"])
def test_reference_solutions_pass_and_broken_ones_fail(kind, backend, problems, judge):
    problem = next(p for p in problems if p.kind == kind)
    tokenizer = backend.tokenizer
    _, prompt_ids = build_prompt(problem, tokenizer, load_templates())
    cfg = ForkingConfig(num_forks=2, samples_per_fork=2, max_new_tokens=4096)
    for code, passes in [(problem.solutions[0], True), ("raise SystemExit(3)\n", False)]:
        text = f"Plan: use the reference.\n```python\n{code}```\n"
        replay = ReplayBackend(tokenizer(text, add_special_tokens=False)["input_ids"])
        replay.prompt_len = len(prompt_ids)
        records = generate_problem_rollouts(problem, prompt_ids, replay, judge, tokenizer, cfg, seed=0)
        assert len(records) == 5
        assert [r["label"] for r in records] == [passes] * 5
        assert records[0]["code"] == code
        start = records[0]["code_start"]
        assert code.split("\n")[0] in tokenizer.decode(records[0]["token_ids"][start:])


def test_must_pass_retries_the_trunk(backend, problems, judge):
    problem = problems[0]
    _, prompt_ids = build_prompt(problem, backend.tokenizer, load_templates())
    calls = []
    real = backend.generate

    def counting(requests):
        calls.append([r.n for r in requests])
        return real(requests)

    backend.generate = counting
    try:
        cfg = ForkingConfig(num_forks=1, samples_per_fork=1, max_new_tokens=8, trunk_policy="must-pass", trunk_retries=2)
        records = generate_problem_rollouts(problem, prompt_ids, backend, judge, backend.tokenizer, cfg, seed=1)
    finally:
        del backend.generate
    # A random model never passes: 1 + R trunk attempts, then the forks of the last trunk.
    assert calls == [[1], [1], [1], [1]] and len(records) == 2 and not records[0]["label"]


def test_balance_oversamples_the_minority_per_problem():
    rows = ([{"problem_id": "a", "label": True, "rollout_id": f"a{i}"} for i in range(2)]
            + [{"problem_id": "a", "label": False, "rollout_id": f"a{i + 2}"} for i in range(7)]
            + [{"problem_id": "b", "label": False, "rollout_id": f"b{i}"} for i in range(3)])
    out, report = balance(rows, seed=0)
    assert report["problems_left_out"] == 1 and report["left_out_ids"] == ["b"]
    labels = [r["label"] for r in out]
    assert labels.count(True) == labels.count(False) == 7 and len(out) == report["rollouts_out"] == 14
    counts = {}
    for r in out:
        counts[r["rollout_id"]] = counts.get(r["rollout_id"], 0) + 1
    assert sorted(counts[f"a{i}"] for i in range(2)) == [3, 4]  # repetition spread evenly
    assert balance(rows, seed=0)[0] == out  # seeded


def test_judge_runs_each_distinct_program_once(problems, tmp_path):
    """Identical programs get one sandbox run and the same verdict under each id."""
    problem = next(p for p in problems if p.solutions)
    log = tmp_path / "requests.jsonl"
    # A judge that records the requests it receives, then hands them to the real one.
    wrapper = tmp_path / "judge.py"
    wrapper.write_text(
        "import subprocess, sys\n"
        "data = sys.stdin.read()\n"
        f"open({str(log)!r}, 'a').write(data)\n"
        f"sys.exit(subprocess.run([sys.executable, {str(Judge().path)!r}, *sys.argv[1:]], input=data, text=True).returncode)\n")
    good, bad = problem.solutions[0], "print(1/0)\n"
    items = [("a", good, problem.tests), ("b", bad, problem.tests), ("c", good, problem.tests),
             ("d", "", problem.tests), ("e", bad, problem.tests)]
    out = Judge(wrapper, workers=2, allow_weak_isolation=True).judge(items)
    assert [r["id"] for r in out] == ["a", "b", "c", "d", "e"]
    assert [r["passed"] for r in out] == [True, False, True, False, False]
    assert out[2]["results"] == out[0]["results"] and out[4]["verdicts"] == out[1]["verdicts"]
    assert len(log.read_text().splitlines()) == 2


def test_vllm_logprobs_mode_is_the_one_that_records_ours():
    """Ours: log softmax(logits / T) before top-p. vLLM's raw mode is the model's own (T = 1),
    its processed mode comes after top-p renormalisation (equal to ours only at top_p = 1)."""
    assert vllm_logprobs_mode(SamplingConfig(1.0, 0.95)) == "raw_logprobs"
    assert vllm_logprobs_mode(SamplingConfig(1.0, 1.0)) == "raw_logprobs"
    assert vllm_logprobs_mode(SamplingConfig(0.7, 1.0)) == "processed_logprobs"
    assert vllm_logprobs_mode(SamplingConfig(1.0, 1.0), "processed_logprobs") == "processed_logprobs"
    with pytest.raises(ValueError, match="before top-p 0.9"):
        vllm_logprobs_mode(SamplingConfig(0.7, 0.9))
    with pytest.raises(ValueError, match="records other log-probabilities"):
        vllm_logprobs_mode(SamplingConfig(0.7, 1.0), "raw_logprobs")
    with pytest.raises(ValueError, match="records other log-probabilities"):
        vllm_logprobs_mode(SamplingConfig(1.0, 0.95), "processed_logprobs")
