"""The real-run page's editor section, from the record scripts/real-cpu-editor.sh writes."""
from passlens_training.real.report import editor_lines

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
