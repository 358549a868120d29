"""The offline replay of guided search (evaluate/guided_simulation.py) on constructed rollouts:
outcomes computed by hand. Its decisions equal the extension's on the shared cases
(test_contracts.py runs contracts/cases/guided-search.json)."""
import dataclasses
import json

import pytest

from passlens_training.evaluate import guided_simulation as gs
from passlens_training.records import ScoredRollout, score_row, write_jsonl

EOS = 0


def rollout(values, passed, logprobs=None, ids=None):
    ids = ids or list(range(100, 100 + len(values)))
    return gs.Rollout(tuple(ids), tuple(values), tuple(logprobs or [-1.0] * len(values)), passed)


def four_roots():
    """A passes and looks it; B and C fail and look it early; D passes but looks unsure."""
    return [rollout([0.9] * 10, True), rollout([0.1] * 10, False), rollout([0.2] * 10, False), rollout([0.6] * 10, True)]


def test_best_of_n_ranks_finished_rollouts_and_spends_all_their_tokens():
    out = gs.simulate(gs.Pool("p", four_roots(), {}), gs.Policy.best_of_n(4), max_new_tokens=64)
    assert [c.index for c in out.candidates] == [0, 3, 2, 1]
    assert out.passed and out.tokens == 40 and out.steps == 11  # 10 tokens in lockstep, then the end
    assert all(c.finish == "stop" and c.pruned is False for c in out.candidates)


def test_pruning_reaches_the_same_choice_with_fewer_tokens():
    policy = gs.Policy(width=4, interval=2, prune_fraction=0.5, threshold=0, warmup_tokens=0, rebranch=False, window=1)
    out = gs.simulate(gs.Pool("p", four_roots(), {}), policy, max_new_tokens=64)
    # Round 1 stops B and C at 2 tokens; round 2 stops D (one of the two live) at 4; A runs to 10.
    assert [(c.index, c.finish, c.tokens, c.pruned) for c in out.candidates] == [
        (0, "stop", 10, False), (3, "pruned", 4, 4), (2, "pruned", 2, 2), (1, "pruned", 2, 2)]
    assert out.passed and out.tokens == 18
    assert out.steps == 2 + 2 + 6 + 1


def test_a_stopped_candidate_never_passes_even_when_its_rollout_did():
    policy = gs.Policy(width=2, interval=2, prune_fraction=0.5, threshold=0, warmup_tokens=0, rebranch=False, window=1)
    roots = [rollout([0.9] * 4, False), rollout([0.1] * 4, True)]
    out = gs.simulate(gs.Pool("p", roots, {}), policy, max_new_tokens=64)
    assert [(c.index, c.passed) for c in out.candidates] == [(0, False), (1, False)]


def trunk_with_forks():
    """The trunk (ids 1..8) is least likely at 5, then 2; the data has samples from position 5 only."""
    trunk = rollout([0.8] * 8, True, logprobs=[-0.1, -0.2, -3.0, -0.3, -0.1, -4.0, -0.1, -0.1], ids=list(range(1, 9)))
    fork5 = [rollout([0.8] * 5 + [0.7] * 3, True, ids=list(range(1, 6)) + [50, 51, 52]) for _ in range(2)]
    return trunk, {tuple(range(1, 6)): fork5}


def test_rebranch_takes_a_recorded_fork_and_counts_its_tokens_from_the_fork():
    trunk, continuations = trunk_with_forks()
    low = rollout([0.1] * 8, False, ids=list(range(20, 28)))
    policy = gs.Policy(width=2, interval=6, prune_fraction=0.5, threshold=0, warmup_tokens=0, rebranch=True, window=8)
    out = gs.simulate(gs.Pool("p", [trunk, low], continuations), policy, max_new_tokens=64)
    branch = next(c for c in out.candidates if c.branch)
    assert branch.branch == (0, 5) and branch.token_ids == tuple(range(1, 6)) + (50, 51, 52)
    assert branch.tokens == 3, "the five shared tokens are the trunk's"
    assert out.rebranches == {"wanted": 1, "exact": 1, "moved": 0, "missing": 0}
    assert out.tokens == 8 + 6 + 3


def test_rebranch_moves_to_a_position_with_data_or_leaves_the_slot_empty():
    trunk, continuations = trunk_with_forks()
    low = rollout([0.1] * 8, False, ids=list(range(20, 28)))
    policy = gs.Policy(width=2, interval=6, prune_fraction=0.5, threshold=0, warmup_tokens=0, rebranch=True, window=8)
    # The policy wants position 2, where no samples were recorded: the replay moves to 5, the least
    # likely position that has some; without any samples the slot stays empty.
    trunk_low_at_2 = dataclasses.replace(trunk, logprobs=(-0.1, -0.2, -9.0, -0.3, -0.1, -4.0, -0.1, -0.1))
    out = gs.simulate(gs.Pool("p", [trunk_low_at_2, low], continuations), policy, max_new_tokens=64)
    assert out.rebranches == {"wanted": 1, "exact": 0, "moved": 1, "missing": 0}
    assert next(c for c in out.candidates if c.branch).branch == (0, 5)
    out = gs.simulate(gs.Pool("p", [trunk_low_at_2, low], {}), policy, max_new_tokens=64)
    assert out.rebranches == {"wanted": 1, "exact": 0, "moved": 0, "missing": 1}
    assert len(out.candidates) == 2


def test_the_token_budget_is_spent_exactly():
    policy = gs.Policy(width=4, interval=3, prune_fraction=0.25, threshold=0, warmup_tokens=0, rebranch=False, window=1)
    out = gs.simulate(gs.Pool("p", four_roots(), {}), policy, max_new_tokens=64, token_budget=13)
    assert out.tokens == 13 == sum(c.tokens for c in out.candidates)
    assert {c.finish for c in out.candidates} <= {"pruned", "budget"} and not out.passed


def test_fewer_roots_than_width_is_an_error_naming_the_problem():
    with pytest.raises(ValueError, match="problem p: 4 rollouts sampled from the prompt, fewer than width 5"):
        gs.simulate(gs.Pool("p", four_roots(), {}), gs.Policy.best_of_n(5), max_new_tokens=64)


def test_policies_with_impossible_knobs_are_refused():
    with pytest.raises(ValueError, match="prune_fraction must be in"):
        gs.Policy(width=2, prune_fraction=1.0)
    with pytest.raises(ValueError, match="interval must be an integer >= 1"):
        gs.Policy(width=2, interval=0)


def write_dataset(tmp_path, problems):
    """Rollout shards and a scores file for {problem_id: [(rollout_suffix, fork_position, token_ids, values, logprobs, passed)]}
    (suffix i… marks an independent sample)."""
    records, scores = [], []
    for pid, rows in problems.items():
        for suffix, fork, ids, values, logprobs, passed in rows:
            rid = f"{pid}/{suffix}"
            role = "branch" if fork is not None else "independent" if suffix.startswith("i") else "trunk"
            records.append({"rollout_id": rid, "problem_id": pid, "prompt_token_ids": [1], "token_ids": ids + [EOS],
                            "logprobs": logprobs + [-0.01], "label": passed,
                            "branch": {"trunk_id": f"{pid}/t0", "role": role, "fork_position": fork},
                            "sampling": {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 32}})
            scores.append(score_row(ScoredRollout(pid, rid, passed, tuple(values + [values[-1]]), 0, len(ids) - 1)))
    write_jsonl(tmp_path / "data" / "shards" / "rollouts-test-00000.jsonl", records)
    write_jsonl(tmp_path / "scores.jsonl", scores)
    return tmp_path / "data", tmp_path / "scores.jsonl"


def constructed_problem(good_first: bool):
    good = ([5, 6, 7, 8], [0.5, 0.7, 0.8, 0.9], [-1.0] * 4, True)
    bad = [([9, 9, 9, 9, 9, 9], [0.5, 0.2, 0.1, 0.1, 0.1, 0.1], [-1.0] * 6, False) for _ in range(3)]
    roots = [good] + bad if good_first else bad + [good]
    rows = [(f"s{i}" if i else "t0", None, *root) for i, root in enumerate(roots)]
    trunk_ids = roots[0][0]
    rows.append(("f0s0", 2, trunk_ids[:2] + [40, 41], roots[0][1][:2] + [0.6, 0.6], [-1.0, -1.0, -2.0, -2.0], True))
    return rows


def test_pools_come_from_rollout_shards_and_a_scores_file(tmp_path):
    data, scores = write_dataset(tmp_path, {"a": constructed_problem(True), "b": constructed_problem(False)})
    pools, max_new = gs.load_pools([data], scores)
    assert max_new == 32 and sorted(pools) == ["a", "b"]
    a = pools["a"]
    assert len(a.roots) == 4 and a.roots[0].token_ids == (5, 6, 7, 8), "the end token is not streamed"
    assert a.roots[0].finish == "stop" and a.roots[0].values == (0.5, 0.7, 0.8, 0.9)
    assert list(a.continuations) == [(5, 6)] and a.continuations[(5, 6)][0].token_ids == (5, 6, 40, 41)
    only_b, _ = gs.load_pools([data], scores, ["b"])
    assert list(only_b) == ["b"]


def test_independent_samples_are_the_roots_where_a_problem_has_them(tmp_path):
    rows = constructed_problem(True)
    good = rows[0]
    independent = [(f"i{k}", None, *row[2:]) for k, row in enumerate(rows[1:4])]
    data, scores = write_dataset(tmp_path, {"a": rows, "b": [good] + independent})
    pools, _ = gs.load_pools([data], scores)
    assert [r.rollout_id for r in pools["a"].roots] == ["a/t0", "a/s1", "a/s2", "a/s3"]
    assert [r.rollout_id for r in pools["b"].roots] == ["b/i0", "b/i1", "b/i2"], "the trunk (maybe redrawn until it passed) is left out"


def test_scores_of_other_records_are_refused(tmp_path):
    data, scores = write_dataset(tmp_path, {"a": constructed_problem(True)})
    (tmp_path / "other.jsonl").write_text(json.dumps(score_row(ScoredRollout("a", "a/zz", True, (0.5,), 0, 0))) + "\n")
    with pytest.raises(ValueError, match="'a/zz' is not in the rollout records"):
        gs.load_pools([data], tmp_path / "other.jsonl")


def test_run_averages_draws_and_compare_chooses_a_policy(tmp_path):
    data, scores = write_dataset(tmp_path, {"a": constructed_problem(True), "b": constructed_problem(False)})
    pools, max_new = gs.load_pools([data], scores)
    prune = gs.Policy(width=4, interval=1, prune_fraction=0.5, threshold=0, warmup_tokens=0, rebranch=False, window=1)
    found = gs.compare(pools, 4, max_new, draws=6, seed=1, policies=[prune])
    best_of = found["best_of_n"]
    assert [r.policy.width for r in best_of] == [1, 2, 3, 4]
    # Best-of-4 always picks the one passing root (0.9 beats 0.1): 4 + 3×6 tokens per problem.
    assert best_of[-1].pass_at_1 == 1.0 and best_of[-1].tokens == 22
    # After one token all values tie at 0.5 (the later streams stop first); after two the failing ones show 0.2.
    chosen = found["chosen"]
    assert chosen.policy == prune and chosen.tokens < best_of[-1].tokens
    assert 0 < best_of[0].pass_at_1 < 1, "best-of-1 draws a random root"


def result(label, pass_at_1, tokens, per_problem=None):
    per_problem = per_problem or {"a": pass_at_1, "b": pass_at_1}
    return gs.Result(label, gs.Policy(width=2), None, pass_at_1, tokens, 0.0, per_problem, {}, {k: tokens for k in per_problem})


def test_best_of_n_at_a_budget_mixes_the_two_neighbouring_n():
    best_of = [result("best-of-1", 0.4, 50, {"a": 0.0, "b": 0.8}), result("best-of-2", 0.5, 100, {"a": 0.2, "b": 0.8})]
    mixed, how = gs.best_of_n_at(best_of, 75)
    assert mixed == pytest.approx({"a": 0.1, "b": 0.8}) and how == "0.50 × best-of-1 + 0.50 × best-of-2"
    assert gs.best_of_n_at(best_of, 20) == ({"a": 0.0, "b": 0.8}, "best-of-1"), "below best-of-1: best-of-1, which spends more"
    assert gs.best_of_n_at(best_of, 500)[1] == "best-of-2"


def test_choose_takes_the_largest_gain_over_best_of_n_at_equal_tokens_then_the_cheapest():
    best_of = [result("best-of-1", 0.4, 50), result("best-of-2", 0.5, 100)]
    picks = [result("more pass, more tokens", 0.55, 100), result("even", 0.45, 75),
             result("gains 0.1", 0.5, 50), result("gains 0.1, cheaper", 0.5, 40)]
    assert gs.advantage(picks[0], best_of) == pytest.approx(0.05) and gs.advantage(picks[1], best_of) == pytest.approx(0)
    assert gs.choose(picks, best_of).label == "gains 0.1, cheaper"
    assert gs.tokens_to_match(picks, 0.5).label == "gains 0.1, cheaper"
    assert gs.tokens_to_match(picks, 0.95) is None
    with pytest.raises(ValueError, match="no guided policies"):
        gs.choose([], best_of)


def test_the_grid_holds_only_policies_that_stop_something():
    grid = gs.policy_grid(8)
    assert grid and all(p.width == 8 and (p.prune_fraction > 0 or p.threshold > 0) for p in grid)
    assert len(grid) == len(set(grid))


def test_cli_prints_the_comparison_and_writes_it(tmp_path, capsys):
    problems = {"a": constructed_problem(True), "b": constructed_problem(False), "short": constructed_problem(True)[:2]}
    data, scores = write_dataset(tmp_path, problems)
    (tmp_path / "split.json").write_text(json.dumps({"train": [], "test": ["a", "b", "short"], "validation": ["a", "short"]}))
    gs.main(["--data", str(data), "--scores", str(scores), "--problems", f"{tmp_path / 'split.json'}:test",
             "--width", "3", "--draws", "2", "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert "1 problems have fewer than 3 rollouts sampled from the prompt" in out.err
    assert "best-of-3" in out.out and "chosen: guided" in out.out
    written = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert [r["policy"]["width"] for r in written["best_of_n"]] == [1, 2, 3]
    assert set(written["chosen"]["per_problem"]) == {"a", "b"}
    assert written["baseline"]["label"] == "best-of-3"
    with pytest.raises(SystemExit, match="has no 'valid' list"):
        gs.main(["--data", str(data), "--scores", str(scores), "--problems", f"{tmp_path / 'split.json'}:valid"])
