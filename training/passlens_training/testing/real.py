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


def node_values(bundle: Path, problem, texts: list[str], work: Path) -> list[list[float]]:
    """Per-token values of `texts` as responses to `problem`, scored by the extension's CLI
    (`passlens rank --critic BUNDLE --candidates`, onnxruntime-node), in the order given.
    The problem goes in as the editor reads one: a statement with its starter code below."""
    import json
    import subprocess

    from ..config import REPO_ROOT

    cli = REPO_ROOT / "dist" / "cli.js"
    if not cli.is_file():
        pytest.fail(f"{cli} is missing: build the extension (node esbuild.mjs; scripts/setup.sh does)", pytrace=False)
    work.mkdir(parents=True, exist_ok=True)
    starter = f"\n\n```python\n{problem.starter_code}```\n" if problem.starter_code else "\n"
    (work / "problem.md").write_text(problem.question + starter, encoding="utf-8")
    (work / "candidates.json").write_text(json.dumps(texts), encoding="utf-8")
    proc = subprocess.run(["node", str(cli), "rank", str(work / "problem.md"), "--critic", str(bundle),
                           "--candidates", str(work / "candidates.json"), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_index = {c["index"]: c["values"] for c in json.loads(proc.stdout)}
    return [by_index[i] for i in range(len(texts))]
