import dataclasses
import math

import pytest

import numpy as np

from passlens_training.records import ScoredRollout, score_row, write_jsonl
from passlens_training.evaluate.calibrate import NOT_CALIBRATED_EXIT, NotCalibratable, fit_calibration, fit_platt
from passlens_training.evaluate.calibrate import main as calibrate_main
from passlens_training.evaluate.gutter import decisive_index, decisive_indices, gutter_hits, gutter_metrics, line_changes
from passlens_training.evaluate.intervals import bootstrap_indices, interval
from passlens_training.evaluate.metrics import (
    balanced_weights, beats_likelihood, best_of_k, compute_metrics, expected_calibration_error,
    pass_at_k, percentile_index, picker_success, selection_metrics, weighted_auroc,
)


def R(pid, rid, passed, values, code_start=0, **fields):
    return ScoredRollout(pid, rid, passed, tuple(values), code_start, **fields)


def test_auroc_ties_are_average_ranks():
    # pos scores 0.8, 0.5; neg 0.5, 0.2 -> pairs: (0.8>0.5)=1, (0.8>0.2)=1, (0.5=0.5)=0.5, (0.5>0.2)=1 -> 3.5/4
    assert weighted_auroc([0.8, 0.5, 0.5, 0.2], [True, True, False, False]) == pytest.approx(0.875)
    assert weighted_auroc([0.3, 0.3, 0.3], [True, False, False]) == pytest.approx(0.5)


def test_auroc_single_class_is_null():
    assert weighted_auroc([0.1, 0.9], [True, True]) is None


def test_auroc_weights_count_pairs():
    # pos 0.9 (w1); neg 0.95 (w3), 0.1 (w1): wins 1 of 4 weighted pairs
    assert weighted_auroc([0.9, 0.95, 0.1], [True, False, False], [1, 3, 1]) == pytest.approx(0.25)


def test_ece_bins_hand_computed():
    # bin [0.9,1.0]: s 0.95, 1.0 labels 1, 0 -> |0.5-0.975| = 0.475, weight 2/4
    # bin [0.1,0.2): s 0.1, 0.15 labels 0, 0 -> |0-0.125| = 0.125, weight 2/4
    ece = expected_calibration_error([0.95, 1.0, 0.1, 0.15], [1, 0, 0, 0])
    assert ece == pytest.approx(0.5 * 0.475 + 0.5 * 0.125)


def test_percentile_index_formula():
    # L = 10 - 2 = 8; p=50 -> 2 + floor(3.5 + 0.5) = 6; p=0 -> 2; p=100 -> 9
    assert percentile_index(10, 2, 50) == 6
    assert percentile_index(10, 2, 0) == 2
    assert percentile_index(10, 2, 100) == 9
    # L = 4: p=10 -> floor(0.3+0.5)=0; p=20 -> floor(0.6+0.5)=1
    assert percentile_index(4, 0, 10) == 0 and percentile_index(4, 0, 20) == 1
    assert percentile_index(3, 3, 50) is None


def test_pass_at_k_hand_computed_and_edge_cases():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(5, 2, 3) == pytest.approx(1 - 1 / 10)  # 1 - C(3,3)/C(5,3)
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)  # 1 - C(7,2)/C(10,2)
    # c = 0: nothing passes, whatever k (the old rule said 1.0 for k > n)
    assert [pass_at_k(3, 0, k) for k in (1, 3, 5)] == [0.0, 0.0, 0.0]
    # k > n reads as k = n: pass@n
    assert pass_at_k(2, 1, 3) == pass_at_k(2, 1, 2) == 1.0
    assert pass_at_k(4, 0, 10) == 0.0
    # n = k: 1 when any passes
    assert pass_at_k(4, 1, 4) == 1.0 and pass_at_k(4, 0, 4) == 0.0
    for bad in ((0, 0, 1), (3, 4, 1), (3, 1, 0)):
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_best_of_k_ties_keep_file_order():
    group = [R("p", "a", False, [0.7]), R("p", "b", True, [0.7]), R("p", "c", False, [0.1])]
    assert best_of_k(group, 1) is False
    assert best_of_k(group, 2) is True
    assert best_of_k(group, 10) is True  # fewer than k -> all


def test_balanced_weights_and_single_class_problems():
    rs = [R("a", "1", True, [0.9]), R("a", "2", False, [0.2]), R("a", "3", False, [0.3]), R("a", "4", False, [0.6]),
          R("b", "1", True, [0.9])]
    assert list(balanced_weights(rs)) == [3.0, 1.0, 1.0, 1.0, 0.0]


def test_compute_metrics_hand_computed():
    rs = [R("a", "a1", True, [0.2, 0.9]), R("a", "a2", False, [0.8, 0.6]), R("a", "a3", False, [0.1, 0.3]),
          R("b", "b1", False, [0.4]), R("b", "b2", False, [0.7])]
    m = compute_metrics(rs)
    imb = m["imbalanced"]
    # s: 0.9 P, 0.6 F, 0.3 F, 0.4 F, 0.7 F -> positives a1, a2, b2
    assert imb["predicted_positive_rate"] == pytest.approx(3 / 5)
    assert imb["accuracy"] == pytest.approx(3 / 5)
    assert imb["precision"] == pytest.approx(1 / 3)
    assert imb["negative_predictive_value"] == pytest.approx(1.0)
    assert imb["true_positive_rate"] == pytest.approx(1.0)
    assert imb["true_negative_rate"] == pytest.approx(2 / 4)
    assert imb["auroc"] == pytest.approx(1.0)
    # percentile 0 uses values[0]: 0.2 P(wrong), 0.8 F(wrong), 0.1 F ok, 0.4 F ok, 0.7 F wrong -> 2/5
    assert imb["percentile_accuracy"]["0"] == pytest.approx(2 / 5)
    assert imb["percentile_accuracy"]["100"] == pytest.approx(3 / 5)
    bal = m["balanced"]  # only problem a: a1 weight 2, a2, a3 weight 1
    assert bal["accuracy"] == pytest.approx(3 / 4)
    assert bal["precision"] == pytest.approx(2 / 3)
    assert bal["negative_predictive_value"] == pytest.approx(1.0)
    assert bal["true_negative_rate"] == pytest.approx(0.5)
    # baseline: a: 1 - C(2,1)/C(3,1) = 1/3; b: 0 -> mean 1/6 for k=1; k=3: a 1, b (n-c=2<3) 1
    assert m["baseline_pass_at_k"]["1"] == pytest.approx(1 / 6)
    assert m["best_of_k"]["1"] == pytest.approx(0.5)
    assert m["relative_improvement"]["1"] == pytest.approx((0.5 - 1 / 6) / (1 / 6))
    assert m["n_problems"] == 2 and m["n_rollouts"] == 5


def test_nulls_when_condition_is_empty():
    m = compute_metrics([R("a", "1", False, [0.1]), R("a", "2", False, [0.2])])
    imb = m["imbalanced"]
    assert imb["precision"] is None and imb["true_positive_rate"] is None and imb["auroc"] is None
    assert imb["negative_predictive_value"] == 1.0
    bal = m["balanced"]
    assert bal["accuracy"] is None and bal["ece"] is None and bal["percentile_accuracy"]["50"] is None
    assert m["relative_improvement"]["1"] is None


def test_percentile_skips_rollouts_without_code_tokens():
    m = compute_metrics([R("a", "1", True, [0.9, 0.9], code_start=2), R("a", "2", False, [0.4, 0.1], code_start=1)])
    assert m["imbalanced"]["percentile_accuracy"]["50"] == pytest.approx(1.0)


def test_bad_scores_file_is_a_clear_error(tmp_path):
    from passlens_training.records import read_scores
    bad = tmp_path / "scores.jsonl"
    bad.write_text('{"problem_id": "a", "rollout_id": "a/1", "passed": true, "values": [0.5], "code_start": 0}\n{"problem_id": "a"}\n')
    with pytest.raises(ValueError, match="scores.jsonl:2: not a scores record"):
        read_scores(bad)
    bad.write_text('{"problem_id": "a", "rollout_id": "a/1", "passed": true, "values": [], "code_start": 0}\n')
    with pytest.raises(ValueError, match="has no values"):
        read_scores(bad)


def test_picker_success_is_the_expected_best_of_m_random_candidates():
    # Ranked order F T F F, m = 2: the pass is the pick when it is drawn and the first is not:
    # pairs {1,2} and {1,3} of the C(4,2) = 6 -> 1/3.
    assert picker_success([False, True, False, False], 2) == pytest.approx(1 / 3)
    assert picker_success([True, False, False], 2) == pytest.approx(1.0 - 1 / 3)  # drawn with prob. 2/3
    # m = n: the ranker's top; m > n reads as n
    assert picker_success([False, True], 2) == picker_success([False, True], 9) == 0.0
    # the oracle order gives pass@m, random order on average gives c/n
    order = [True, True, False, False, False]
    assert picker_success(order, 3) == pytest.approx(pass_at_k(5, 2, 3))


def test_bootstrap_on_a_fixed_seed():
    resamples = bootstrap_indices(2, 2000, seed=0)
    assert (resamples == bootstrap_indices(2, 2000, seed=0)).all() and resamples.shape == (2000, 2)
    # Two problems, one solved: resampled means are 0, 1/2 or 1 with chances 1/4, 1/2, 1/4,
    # so with 2000 draws the 2.5th percentile is 0 and the 97.5th is 1.
    assert interval(np.array([0.0, 1.0]), resamples) == {"value": 0.5, "ci": [0.0, 1.0]}
    assert interval(np.array([1.0, 1.0]), resamples)["ci"] == [1.0, 1.0]
    # Paired: a ranker minus an identical one is exactly 0 in every resample.
    same = np.array([1.0, 0.0])
    assert interval(same - same, resamples)["ci"] == [0.0, 0.0]


def independent(pid, k, passed, final, logprobs, code_start=1):
    return R(pid, f"{pid}/i{k}", passed, [0.5] * code_start + list(final), code_start=code_start, independent=True,
             logprobs=tuple(logprobs))


def test_selection_every_ranker_hand_computed():
    rs = [
        # p1: the critic ranks the pass first; likelihood (mean) prefers a failure; total prefers the pass
        independent("p1", 0, False, [0.9, 0.2], [-0.1, -0.1]),
        independent("p1", 1, True, [0.1, 0.8], [-0.5, -0.3]),
        independent("p1", 2, False, [0.3, 0.4], [-1.0, -1.0]),
        # p2: nothing passes
        independent("p2", 0, False, [0.9, 0.9], [-0.2, -0.2]),
        independent("p2", 1, False, [0.2, 0.2], [-0.1, -0.1]),
        # a fork rollout: not used for selection
        R("p1", "p1/t0", True, [0.0, 0.0, 0.0], logprobs=(0.0, 0.0, 0.0)),
    ]
    m = selection_metrics(rs, bootstrap_samples=200)
    assert m["data"] == "independent samples" and m["samples_per_problem"] == [2, 3]
    every, solvable = m["subsets"]["all"], m["subsets"]["solvable"]
    assert every["n_problems"] == 2 and solvable["n_problems"] == 1
    top1 = {name: r["best_of_k"]["1"]["value"] for name, r in every["rankers"].items()}
    # p1's likelihood ranks over the tokens up to the ranking index (the last): means -0.1, -0.4, -1.0,
    # totals -0.2, -0.8, -2.0 (a failure first both times); p2 passes nowhere
    assert top1 == {"random": pytest.approx((1 / 3 + 0) / 2), "likelihood_mean": 0.0, "likelihood_total": 0.0,
                    "critic_final": 0.5, "critic_min": 0.0, "oracle": 0.5}
    # critic_min takes the code tokens' minimum: p1 0.2, 0.1, 0.3 -> the third (fails)
    assert every["rankers"]["critic_final"]["best_of_k"]["3"]["value"] == 0.5
    assert solvable["rankers"]["critic_final"]["best_of_k"]["1"] == {"value": 1.0, "ci": [1.0, 1.0]}
    diff = every["differences"]["critic_final - likelihood_mean"]["best_of_k"]["1"]
    assert diff["value"] == 0.5 and diff["ci"][0] <= diff["ci"][1]
    # picker, best of 2 among 3 for the critic on p1: the pass is ranked first -> drawn with prob. 2/3
    assert every["rankers"]["critic_final"]["picker"]["2"]["value"] == pytest.approx((2 / 3 + 0) / 2)
    assert every["rankers"]["random"]["picker"]["2"]["value"] == pytest.approx((1 / 3 + 0) / 2)


def test_selection_without_logprobs_or_independent_samples_says_so():
    rs = [R("p", "p/t0", True, [0.9]), R("p", "p/f0s0", False, [0.2])]
    m = selection_metrics(rs, bootstrap_samples=50)
    assert m["data"].startswith("all rollouts")
    assert m["subsets"]["all"]["rankers"]["likelihood_mean"] is None
    assert m["subsets"]["all"]["differences"]["critic_final - likelihood_mean"] is None
    assert beats_likelihood(m) is None


def test_beats_likelihood_needs_the_interval_above_zero():
    rs = []
    for p in range(30):  # the critic always picks the pass, likelihood always the failure
        rs += [independent(f"p{p}", 0, True, [0.9], [-1.0]), independent(f"p{p}", 1, False, [0.1], [-0.1])]
    assert beats_likelihood(selection_metrics(rs, bootstrap_samples=300)) is True
    flipped = [independent(r.problem_id, int(r.rollout_id[-1]), r.passed, [1 - r.s], r.logprobs) for r in rs]
    assert beats_likelihood(selection_metrics(flipped, bootstrap_samples=300)) is False


def test_decisive_index_is_where_the_nearest_passing_rollout_is_left():
    assert decisive_index([1, 2, 3, 9], [[1, 2, 3, 4], [1, 5]]) == 3
    assert decisive_index([1, 2], [[1, 2, 3]]) is None  # a prefix of a passing rollout
    assert decisive_index([7], []) is None
    records = [
        {"problem_id": "p", "rollout_id": "p/t0", "label": True, "token_ids": [1, 2, 3], "branch": {"role": "trunk"}},
        {"problem_id": "p", "rollout_id": "p/f0s0", "label": False, "token_ids": [1, 2, 4], "branch": {"role": "branch"}},
        {"problem_id": "p", "rollout_id": "p/i0", "label": False, "token_ids": [1, 2, 5], "branch": {"role": "independent"}},
        {"problem_id": "q", "rollout_id": "q/t0", "label": False, "token_ids": [1], "branch": {"role": "trunk"}},
    ]
    assert decisive_indices(records) == {"p/f0s0": 2, "q/t0": None}


def test_line_changes_follow_the_gutter():
    # tokens: fence (-1), line 0 x2, line 1 x2, after the code (-1)
    changes = line_changes([0.8, 0.7, 0.75, 0.3, 0.2, 0.2], [-1, 0, 0, 1, 1, -1])
    assert list(changes) == [0, 1]
    assert changes[0] == pytest.approx(0.75 - 0.8) and changes[1] == pytest.approx(0.2 - 0.75)
    # no token before the first line: it starts at its own first value
    assert line_changes([0.4, 0.5], [0, 0])[0] == pytest.approx(0.1)


def test_gutter_metric_on_a_constructed_case():
    # 3 code lines; the decisive token (index 4) is on line 1, where the critic falls most;
    # the generator's least likely code token is on line 2.
    lines = (-1, 0, 0, 1, 1, 2, 2, -1)
    failing = R("p", "p/f0s1", False, [0.9, 0.9, 0.85, 0.8, 0.2, 0.15, 0.1, 0.1], code_start=1,
                logprobs=(-0.1, -0.2, -0.1, -0.3, -1.0, -2.5, -0.1, 0.0), token_lines=lines, decisive_index=4)
    assert gutter_hits(failing) == {"critic_largest_drop": 1.0, "random_line": pytest.approx(1 / 3),
                                    "generator_least_likely_token": 0.0}
    missed = R("q", "q/f0s1", False, [0.9, 0.9, 0.3, 0.3, 0.3, 0.3, 0.2, 0.2], code_start=1,
               logprobs=(-0.1, -0.2, -0.1, -0.3, -3.0, -0.5, -0.1, 0.0), token_lines=lines, decisive_index=4)
    outside = R("r", "r/f0s1", False, [0.5] * 8, token_lines=lines, decisive_index=7)
    no_sibling = R("s", "s/t0", False, [0.5] * 8, token_lines=lines)
    passing = R("p", "p/t0", True, [0.9] * 8, token_lines=lines)
    g = gutter_metrics([failing, missed, outside, no_sibling, passing], bootstrap_samples=100)
    assert g["n_rollouts"] == 2 and g["n_problems"] == 2 and g["n_failing_rollouts"] == 4
    assert g["not_eligible"] == {"no_passing_sibling_or_no_token_data": 1, "decisive_token_outside_code": 1}
    assert g["rates"]["critic_largest_drop"]["value"] == 0.5
    assert g["rates"]["generator_least_likely_token"]["value"] == 0.5
    assert g["rates"]["random_line"]["value"] == pytest.approx(1 / 3)


def test_platt_fit_recovers_a_known_sigmoid():
    rng = np.random.default_rng(0)
    s = rng.uniform(0.01, 0.99, 4000)
    z = np.log(s / (1 - s))
    truth = 1 / (1 + np.exp(-(1.7 * z - 0.8)))
    # soft labels equal to the true probabilities: the maximum-likelihood fit is exact
    a, b = fit_platt(s, truth)
    assert a == pytest.approx(1.7, abs=1e-6) and b == pytest.approx(-0.8, abs=1e-6)
    # sampled labels: close, with 20k draws
    s = rng.uniform(0.01, 0.99, 20000)
    z = np.log(s / (1 - s))
    labels = rng.uniform(size=s.size) < 1 / (1 + np.exp(-(1.7 * z - 0.8)))
    a, b = fit_platt(s, labels)
    assert abs(a - 1.7) < 0.08 and abs(b + 0.8) < 0.08


def test_fit_calibration_improves_ece_and_refuses_an_inverted_critic():
    rng = np.random.default_rng(1)
    rs = []
    for i in range(400):  # an overconfident critic: says 0.9 / 0.1 where the truth is 0.7 / 0.3
        high = i % 2 == 0
        passed = rng.uniform() < (0.7 if high else 0.3)
        rs.append(R(f"p{i // 8}", f"p{i // 8}/i{i % 8}", bool(passed), [0.9 if high else 0.1], independent=True))
    cal = fit_calibration(rs, "validation.jsonl")
    assert cal["method"] == "platt" and 0 < cal["a"] < 1 and cal["fitted_on"]["rollouts"] == 400
    assert cal["validation"]["ece_after"] < cal["validation"]["ece_before"] - 0.1
    inverted = [dataclasses.replace(r, values=(1 - r.s,)) for r in rs]
    with pytest.raises(NotCalibratable, match="no order-preserving calibration"):
        fit_calibration(inverted)


def test_calibrate_cli_says_not_calibrated_with_its_own_status_and_writes_nothing(tmp_path, capsys):
    """An inverted critic is a result (exit 3, nothing written: raw values downstream), which the
    micro build carries on from; a missing scores file is an error (another status)."""
    rows = [R(f"p{i // 8}", f"p{i // 8}/i{i % 8}", i % 2 == 0, [0.1 if i % 2 == 0 else 0.9], independent=True) for i in range(64)]
    scores = tmp_path / "validation.jsonl"
    write_jsonl(scores, [score_row(r) for r in rows])
    out = tmp_path / "critic" / "passlens-calibration.json"
    assert calibrate_main(["--scores", str(scores), "--out", str(out)]) == NOT_CALIBRATED_EXIT
    assert not out.exists()
    assert "no order-preserving calibration" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        calibrate_main(["--scores", str(tmp_path / "nowhere.jsonl"), "--out", str(out)])
    assert missing.value.code != NOT_CALIBRATED_EXIT


def test_compute_metrics_has_every_section():
    rs = [independent("p", 0, True, [0.9], [-0.1]), independent("p", 1, False, [0.2], [-0.2]),
          R("p", "p/t0", True, [0.8, 0.9]), R("p", "p/f0s0", False, [0.8, 0.1])]
    m = compute_metrics(rs, bootstrap_samples=50)
    assert m["classification_data"] == "forks" and m["imbalanced"]["auroc"] == 1.0
    assert m["independent_imbalanced"]["auroc"] == 1.0
    assert set(m["selection"]["subsets"]["all"]["rankers"]) == {"random", "likelihood_mean", "likelihood_total",
                                                                "critic_final", "critic_min", "oracle"}
    assert m["best_of_k"]["1"] == 1.0 and m["baseline_pass_at_k"]["1"] == 0.5
    assert set(m["gutter"]["rates"]) == {"critic_largest_drop", "generator_least_likely_token", "random_line"}
