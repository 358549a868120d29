"""The real-run page's editor section, from the record scripts/real-cpu-editor.sh writes."""
from passlens_training.real.report import editor_lines, variants_lines

RECORD = {
    "problem": "HumanEval/1", "generator": "a served model", "candidates": 3, "generate_and_rank_s": 12.3,
    "gutter_icons": 9, "score_file_s": 2.0, "status_bar": "p(pass) 61%", "curve": "p(pass) 61.0% · 80 tokens",
    # Row texts as the picker shows them (the driver reads each row's text content).
    "picker": [
        "#1 p(pass) 61% ▃▄▅passes 1 examplefrom typing import List · 9 lines · 80 tokens",
        "#2 p(pass) 40% ▃▂▁compile error (0/1)from typing import List · 12 lines · 320 tokens · cut off at max tokens",
        "#3 p(pass) 12% ▁▁▁wrong answer (1/2)def f(): · 5 lines · 40 tokens",
    ],
}


def test_editor_section_tabulates_the_picker_and_says_whether_the_first_choice_passes():
    text = "\n".join(editor_lines(RECORD))
    assert "| 1 | 61 % | passes 1 example | 80 tokens |" in text
    assert "| 2 | 40 % | compile error (0/1) | 320 tokens · cut off at max tokens |" in text
    assert "| 3 | 12 % | wrong answer (1/2) | 40 tokens |" in text
    assert "1 of 3 candidates pass the example; the critic's first choice passes." in text

    worse = {**RECORD, "picker": [RECORD["picker"][1], RECORD["picker"][0]]}
    assert "the critic's first choice does not." in "\n".join(editor_lines(worse))


def test_variants_section_tabulates_each_variant_against_fp32():
    record = {"rollouts": 4, "problems": 2, "torch_auroc": 0.6, "variants": {
        "fp32": {"file_bytes": 2e9, "max_abs_diff_tokens": 1e-6, "mean_abs_diff_tokens": 1e-7, "max_abs_diff_ranking_value": 1e-6,
                 "auroc": 0.6, "best_of_1": 0.5, "seconds_per_rollout": 1.1},
        "int4": {"file_bytes": 7.8e8, "max_abs_diff_tokens": 0.2, "mean_abs_diff_tokens": 0.03, "max_abs_diff_ranking_value": 0.1,
                 "auroc": 0.55, "best_of_1": 0.0, "best_of_1_minus_fp32": -0.5, "best_of_1_minus_fp32_interval": [-1.0, 0.0],
                 "same_pick_as_fp32": 1, "seconds_per_rollout": 0.9}}}
    text = "\n".join(variants_lines(record))
    assert "| fp32 | 2,000 MB | 0.0000 | 0.0000 | 0.0000 | 0.600 | 50.0% | — | 2/2 | 1.10 |" in text
    assert "| int4 | 780 MB | 0.2000 | 0.0300 | 0.1000 | 0.550 | 0.0% | -50.0 pp [-100.0, +0.0] | 1/2 | 0.90 |" in text
