"""Prompt → response training texts for the micro generator.

Prompts are the product's own (contracts/prompt_templates.json, applied through the chat
template); responses look like the real generator's: one short reasoning sentence, then
the complete solution in one ```python block. A controlled share of responses is wrong
at a decisive slot (the strictness of a comparison, a range bound, max/min ...), so the
trained generator is genuinely uncertain exactly there: its rollouts mix passes and
failures, and forks at those tokens change the outcome.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable

from .. import contracts
from .problems import FAMILY_BY_NAME, WRONG, render


def chat_messages(problem: dict, templates: dict[str, str] | None = None) -> list[dict[str, str]]:
    """[system, user] messages for an APPS-format problem, as every stage builds them."""
    kind = "call_based" if problem.get("input_output", {}).get("fn_name") else "standard_input"
    return contracts.build_messages(problem["question"], problem.get("starter_code") or "", kind,
                                    templates or contracts.load_templates())


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
    templates = contracts.load_templates()
    examples = []
    for problem in problems:
        messages = chat_messages(problem, templates)
        for _ in range(samples_per_problem):
            text, ok = sample_response(problem, rng, wrong_rate)
            examples.append(Example(messages, text, ok))
    rng.shuffle(examples)
    return examples
