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
