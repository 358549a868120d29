import math

import pytest

from passlens_training.records import ScoredRollout
from passlens_training.evaluate.metrics import (
    balanced_weights, best_of_k, compute_metrics, expected_calibration_error,
    pass_at_k, percentile_index, weighted_auroc,
)


def R(pid, rid, passed, values, code_start=0):
    return ScoredRollout(pid, rid, passed, tuple(values), code_start)


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


def test_pass_at_k_and_k_larger_than_n():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(5, 2, 3) == pytest.approx(1 - math.comb(3, 3) / math.comb(5, 3))
    assert pass_at_k(2, 1, 3) == 1.0  # n - c < k


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
