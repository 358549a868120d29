"""A critic records the prompt templates its rollouts were sampled with (the dataset's run.json)."""
import json

import pytest

from passlens_training.config import REPO_ROOT
from passlens_training.contracts import load_templates
from passlens_training.data.prompts import dataset_prompt_templates

CONCISE = "{repo}/training/passlens_training/configs/prompts-concise.json"


def _dataset(folder, templates):
    (folder / "shards").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"data": {}, "rollouts": {"prompt_templates": templates}}))
    return folder


def test_templates_come_from_the_datasets_run(tmp_path):
    concise = load_templates(REPO_ROOT / "training/passlens_training/configs/prompts-concise.json")
    assert concise != load_templates()
    one = _dataset(tmp_path / "one", CONCISE)
    assert dataset_prompt_templates([one]) == concise
    assert dataset_prompt_templates([one / "shards" / "rollouts-train-00000.jsonl"]) == concise
    assert dataset_prompt_templates([_dataset(tmp_path / "default", "")]) == load_templates()
    assert dataset_prompt_templates([tmp_path / "loose.jsonl"]) == load_templates()
    with pytest.raises(ValueError, match="different prompt templates"):
        dataset_prompt_templates([one, tmp_path / "default"])
