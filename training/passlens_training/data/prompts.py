"""Prompts through the generator's chat template, from the shared templates (contracts/)."""
from __future__ import annotations

from .. import contracts
from .apps import Problem


def build_messages(problem: Problem, templates: dict[str, str]) -> list[dict[str, str]]:
    return contracts.build_messages(problem.question, problem.starter_code, problem.kind, templates)


def build_prompt(problem: Problem, tokenizer, templates: dict[str, str]) -> tuple[str, list[int]]:
    """(chat-templated prompt text, its token ids); the ids are what generation continues from."""
    text = tokenizer.apply_chat_template(build_messages(problem, templates), tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text, list(ids)


def dataset_prompt_templates(paths) -> dict[str, str]:
    """The prompt templates the build-dataset runs of `paths` (dataset folders, or shard files
    inside one) sampled with, read off their run.json: a critic records what it was trained on,
    and its bundle prompts with it. The contract's templates where there is no run.json."""
    import json
    from pathlib import Path

    from ..config import resolve_path

    found: dict[str, dict[str, str]] = {}
    for path in map(Path, paths):
        run = (path if path.is_dir() else path.parent.parent) / "run.json"
        if run.is_file():
            source = (json.loads(run.read_text()).get("rollouts") or {}).get("prompt_templates") or ""
            found[str(run)] = contracts.load_templates(resolve_path(source) if source else None)
    distinct = {json.dumps(t, sort_keys=True) for t in found.values()}
    if len(distinct) > 1:
        raise ValueError(f"the datasets were sampled with different prompt templates ({sorted(found)}): "
                         "a critic is trained on one prompt")
    return next(iter(found.values())) if found else contracts.load_templates()
