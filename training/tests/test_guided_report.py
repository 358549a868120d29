"""The guided report (evaluate/guided_report.py) on a constructed micro world: the policy is
chosen on the validation problems only, the test problems see that one policy, and the doc's
measured section is replaced, not appended to."""
import json

import pytest

from passlens_training.evaluate import guided_report as gr
from passlens_training.records import ScoredRollout, score_row, write_jsonl

EOS = 0


def problem(pid, good_passes=True):
    """Four independent samples: one short and confident from its first token, three long and
    doubtful; plus the trunk, which the report must not use as a root."""
    rows = [("i0", [5, 6, 7, 8], [0.9] * 4, good_passes)]
    rows += [(f"i{k}", [9] * 10, [0.1] * 10, False) for k in (1, 2, 3)]
    rows += [("t0", [3] * 6, [0.5] * 6, True)]
    records, scores = [], []
    for suffix, ids, values, passed in rows:
        rid = f"{pid}/{suffix}"
        records.append({"rollout_id": rid, "problem_id": pid, "prompt_token_ids": [1], "token_ids": ids + [EOS],
                        "logprobs": [-1.0] * (len(ids) + 1), "label": passed,
                        "branch": {"trunk_id": f"{pid}/t0", "role": "independent" if suffix[0] == "i" else "trunk",
                                   "fork_position": None},
                        "sampling": {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 32}})
        scores.append(score_row(ScoredRollout(pid, rid, passed, tuple(values + [values[-1]]), 0, len(ids) - 1)))
    return records, scores


@pytest.fixture
def micro_dir(tmp_path):
    split = {"train": [], "validation": ["v1", "v2"], "test": ["t1", "t2"]}
    (tmp_path / "world").mkdir()
    (tmp_path / "world" / "split.json").write_text(json.dumps(split))
    records = []
    for name in ("validation", "test"):
        scores = []
        for pid in split[name]:
            r, s = problem(pid, good_passes=pid != "t2")
            records += r
            scores += s
        write_jsonl(tmp_path / f"scores-{name}.jsonl", scores)
    write_jsonl(tmp_path / "dataset" / "shards" / "rollouts-validation-00000.jsonl", records)
    return tmp_path


def test_report_chooses_on_validation_and_runs_that_policy_once_on_test(micro_dir, tmp_path, capsys):
    doc = tmp_path / "docs" / "guided.md"
    doc.parent.mkdir()
    doc.write_text("# Guided\n\nintro\n")
    args = ["--micro-dir", str(micro_dir), "--width", "3", "--draws", "4", "--figures", str(tmp_path / "docs" / "guided"),
            "--doc", str(doc)]
    gr.main(args)
    found = json.loads((tmp_path / "docs" / "guided" / "results.json").read_text())
    assert (tmp_path / "docs" / "guided" / gr.PLOT).stat().st_size > 0
    assert len(found["grid"]) == len(gr.report_grid(3)), "the grid is tried on validation"
    val, test = found["splits"]["validation"], found["splits"]["test"]
    assert val["roots"] == 4 and [b["n"] for b in val["best_of_n"]] == [1, 2, 3, 4], "independent samples are the roots"
    # Pruning the doubtful samples early keeps best-of-3's choice at fewer tokens.
    chosen = val["chosen"]
    assert chosen["same_width"]["best_of_n"] == "best-of-3"
    assert chosen["guided"]["pass_at_1"]["value"] == pytest.approx(chosen["same_width"]["pass_at_1"]["value"])
    assert chosen["same_width"]["token_ratio"]["value"] < 1
    # t2's confident sample fails: what the test split reports comes from its own problems.
    assert test["chosen"]["guided"]["pass_at_1"]["value"] < chosen["guided"]["pass_at_1"]["value"]
    assert test["chosen"]["guided"]["label"].startswith(f"guided w3 T{found['chosen']['interval']} ")
    lo, hi = test["chosen"]["equal_tokens"]["difference"]["ci"]
    assert lo <= test["chosen"]["equal_tokens"]["difference"]["value"] <= hi
    text = doc.read_text()
    assert text.startswith("# Guided\n\nintro\n") and "(guided/pass-at-1-vs-tokens.png)" in text
    assert "| test | guided, width 3 |" in text
    gr.main(args)
    again = doc.read_text()
    assert again.count(gr.START) == 1 and again == text, "a rerun replaces the section with the same figures"
    assert "chosen on validation: guided w3" in capsys.readouterr().out


def test_a_micro_dir_without_scores_says_how_to_build_it(micro_dir, tmp_path):
    (micro_dir / "scores-test.jsonl").unlink()
    with pytest.raises(SystemExit, match="scores-test.jsonl is missing: build the micro models first"):
        gr.main(["--micro-dir", str(micro_dir), "--width", "3", "--figures", str(tmp_path / "f"), "--doc", str(tmp_path / "d.md")])
