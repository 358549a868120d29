"""The contracts shared with the extension, loaded from `contracts/` (the single source;
its README states each rule and why): prompt templates, JSON Schemas, and the two rules
both sides implement and test against the same case files:

- `extract_code`: which code a response holds (what is judged, labelled and inserted);
- `ranking_index`: which token's value ranks a candidate (the paper's `s`);
- `calibrate`: a critic bundle's calibration applied to its p(pass) values.

`contracts/` is found at `$PASSLENS_CONTRACTS` when set, else inside the installed
package (a wheel carries a copy), else at the repository root (editable installs).
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, NamedTuple

PACKAGE = Path(__file__).resolve().parent
TEMPLATE_KEYS = ("system", "standard_input", "call_based")
PYTHON_TAGS = ("python", "py", "python3")
FENCE = "```"


def contracts_dir() -> Path:
    for candidate in (os.environ.get("PASSLENS_CONTRACTS"), PACKAGE / "_contracts", PACKAGE.parents[1] / "contracts"):
        if candidate and (Path(candidate) / "prompt_templates.json").is_file():
            return Path(candidate)
    raise FileNotFoundError("contracts/ not found: reinstall passlens-training, or set PASSLENS_CONTRACTS to the "
                            "repository's contracts folder")


# ---------------------------------------------------------------- prompts

def load_templates(path: str | Path | None = None) -> dict[str, str]:
    """The prompt templates (`contracts/prompt_templates.json`, or another file of that shape)."""
    source = Path(path) if path else contracts_dir() / "prompt_templates.json"
    templates = json.loads(source.read_text(encoding="utf-8"))
    missing = [k for k in TEMPLATE_KEYS if not isinstance(templates.get(k), str)]
    if missing:
        raise ValueError(f"{source}: prompt templates need string {missing}")
    return {k: templates[k] for k in TEMPLATE_KEYS}


def build_messages(question: str, starter_code: str, kind: str, templates: dict[str, str]) -> list[dict[str, str]]:
    """[system, user] chat messages. The question is stripped and the starter code right-stripped
    (dataset files carry stray blank lines), and the placeholders are filled in one pass, so
    `{starter_code}` inside a question is never expanded."""
    if kind not in ("standard_input", "call_based"):
        raise ValueError(f"problem kind must be standard_input or call_based, got {kind!r}")
    values = {"question": question.strip(), "starter_code": (starter_code or "").rstrip()}
    user = re.sub(r"\{(question|starter_code)\}", lambda m: values[m.group(1)], templates[kind])
    return [{"role": "system", "content": templates["system"]}, {"role": "user", "content": user}]


# ---------------------------------------------------------------- code extraction

class Block(NamedTuple):
    tag: str  # first word of the info string, lower-cased ('' for a bare fence)
    start: int  # code-point offset of the block's first character
    end: int | None  # offset of the closing fence, None when the block is never closed


def fenced_blocks(text: str) -> list[Block]:
    """Fenced blocks in order: a ``` opens a block (its info string runs to the end of the line),
    the next ``` closes it; text after a closing fence is outside again."""
    blocks, at = [], 0
    while True:
        open_at = text.find(FENCE, at)
        if open_at < 0:
            return blocks
        newline = text.find("\n", open_at + len(FENCE))
        info = text[open_at + len(FENCE): newline if newline >= 0 else len(text)]
        start = newline + 1 if newline >= 0 else len(text)
        words = info.split()
        tag = words[0].lower() if words else ""
        close = text.find(FENCE, start)
        blocks.append(Block(tag, start, close if close >= 0 else None))
        if close < 0:
            return blocks
        at = close + len(FENCE)


def extract_code(text: str) -> tuple[str, int]:
    """(code, code-point offset where it starts), or ("", -1) when the response holds no code.

    The last closed ```python block; else the last closed bare ``` block; else a python or
    bare block left open at the end (generation cut off). Blocks tagged with another language
    (```text, ```bash) are never code."""
    blocks = fenced_blocks(text)
    python = [b for b in blocks if b.tag in PYTHON_TAGS]
    bare = [b for b in blocks if b.tag == ""]
    for group in ([b for b in python if b.end is not None], [b for b in bare if b.end is not None]):
        if group:
            block = group[-1]
            return text[block.start:block.end], block.start
    if blocks and blocks[-1].end is None and (blocks[-1].tag in PYTHON_TAGS or blocks[-1].tag == ""):
        return text[blocks[-1].start:], blocks[-1].start
    return "", -1


# ---------------------------------------------------------------- ranking

def ranking_index(token_ids: Iterable[int], special_ids: Iterable[int]) -> int | None:
    """Index of the token whose value ranks a candidate: the last token that is not special
    (end-of-sequence, padding, chat markers); the last token when every token is special;
    None for no tokens. The editor scores response text, which holds no special tokens, so
    this is its last value too."""
    ids = list(token_ids)
    special = set(special_ids)
    for i in range(len(ids) - 1, -1, -1):
        if ids[i] not in special:
            return i
    return len(ids) - 1 if ids else None


# ---------------------------------------------------------------- calibration

CALIBRATION_EPSILON = 1e-7


def calibrate(values: Iterable[float], calibration: dict[str, Any] | None) -> list[float]:
    """A bundle manifest's `calibration` applied to p(pass) values: Platt scaling,
    sigmoid(a * logit(p) + b) with p clipped to [ε, 1 − ε] (ε = 1e-7), in float64; None
    leaves them as they are. Temperature scaling is the case b = 0 (a = 1 / T). The slope a
    must be positive: calibration changes what a value says, never the ranking."""
    if calibration is None:
        return [float(v) for v in values]
    if calibration.get("method") != "platt":
        raise ValueError(f"unknown calibration method {calibration.get('method')!r} (this version applies 'platt')")
    a, b = float(calibration["a"]), float(calibration["b"])
    if not (a > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"calibration needs a finite slope a > 0 and a finite b, got a={a}, b={b}")
    out = []
    for v in values:
        p = min(max(float(v), CALIBRATION_EPSILON), 1.0 - CALIBRATION_EPSILON)
        z = a * math.log(p / (1.0 - p)) + b
        # the two forms of the sigmoid that cannot overflow
        out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
    return out


# ---------------------------------------------------------------- schemas and cases

@functools.cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema of `contracts/schemas/` by name, e.g. schema("rollout-record")."""
    return json.loads((contracts_dir() / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))


def validate(instance: Any, name: str) -> None:
    """Raises jsonschema.ValidationError when `instance` breaks schema `name` (tests and checks)."""
    import jsonschema

    jsonschema.validate(instance, schema(name), cls=jsonschema.Draft202012Validator)


def case_files() -> list[Path]:
    return sorted((contracts_dir() / "cases").glob("*.json"))
