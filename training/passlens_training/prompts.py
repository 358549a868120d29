"""Prompts from `prompt_templates.json` through the generator's chat template."""
from __future__ import annotations

import json
from pathlib import Path

from .apps import Problem

TEMPLATES_PATH = Path(__file__).with_name("prompt_templates.json")


def load_templates(path: str | Path | None = None) -> dict[str, str]:
    templates = json.loads(Path(path or TEMPLATES_PATH).read_text())
    missing = {"system", "standard_input", "call_based"} - set(templates)
    if missing:
        raise ValueError(f"{path or TEMPLATES_PATH}: prompt templates lack {sorted(missing)}")
    return templates


def build_messages(problem: Problem, templates: dict[str, str]) -> list[dict[str, str]]:
    user = templates[problem.kind].replace("{question}", problem.question).replace("{starter_code}", problem.starter_code)
    return [{"role": "system", "content": templates["system"]}, {"role": "user", "content": user}]


def build_prompt(problem: Problem, tokenizer, templates: dict[str, str]) -> tuple[str, list[int]]:
    """(chat-templated prompt text, its token ids); the ids are what generation continues from."""
    text = tokenizer.apply_chat_template(build_messages(problem, templates), tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text, list(ids)
