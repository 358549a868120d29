"""Prompt → response training texts for the micro generator.

Prompts are the product's own (prompt_templates.json, applied through the chat
template); responses look like the real generator's: one short reasoning sentence, then
the complete solution in one ```python block. A controlled share of responses is wrong
at a decisive slot (the strictness of a comparison, a range bound, max/min ...), so the
trained generator is genuinely uncertain exactly there: its rollouts mix passes and
failures, and forks at those tokens change the outcome.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Iterable

from .problems import FAMILY_BY_NAME, WRONG, render


def prompt_templates() -> dict[str, str]:
    return json.loads(resources.files("passlens_training").joinpath("prompt_templates.json").read_text())


def chat_messages(problem: dict, templates: dict[str, str] | None = None) -> list[dict[str, str]]:
    """[system, user] messages for an APPS-format problem, as every stage builds them."""
    templates = templates or prompt_templates()
    kind = "call_based" if problem.get("input_output", {}).get("fn_name") else "standard_input"
    user = templates[kind].replace("{question}", problem["question"]).replace(
        "{starter_code}", problem.get("starter_code") or "")
    return [{"role": "system", "content": templates["system"]}, {"role": "user", "content": user}]


def format_response(reasoning: str, code: str) -> str:
    return f"{reasoning}\n\n```python\n{code}```"


def sample_response(problem: dict, rng: random.Random, wrong_rate: float) -> tuple[str, bool]:
    """A response for `problem`; each decisive slot independently wrong with `wrong_rate`.

    Returns (text, whether every slot is right)."""
    micro = problem["micro"]
    family = FAMILY_BY_NAME[micro["family"]]
    choices = dict(micro["correct"])
    all_right = True
    for slot, code in micro["correct"].items():
        if rng.random() < wrong_rate:
            choices[slot] = WRONG[slot][code]
            all_right = False
    return format_response(rng.choice(family.reasoning), render(micro["template"], choices)), all_right


@dataclass(frozen=True)
class Example:
    messages: list[dict[str, str]]
    response: str
    correct: bool


def build_corpus(problems: Iterable[dict], *, samples_per_problem: int, wrong_rate: float, seed: int) -> list[Example]:
    rng = random.Random(f"corpus/{seed}")
    templates = prompt_templates()
    examples = []
    for problem in problems:
        messages = chat_messages(problem, templates)
        for _ in range(samples_per_problem):
            text, ok = sample_response(problem, rng, wrong_rate)
            examples.append(Example(messages, text, ok))
    rng.shuffle(examples)
    return examples
