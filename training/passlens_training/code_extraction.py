"""Code out of a model response, and the token where it starts.

Order: the last closed ```python block; else the last closed ``` block of any language;
else an unclosed trailing ```python block (generation cut by max_new_tokens); else ''.
"""
from __future__ import annotations

import re

_CLOSED_PY = re.compile(r"```(?:python|py|python3)[ \t]*\n(.*?)```", re.S)
_CLOSED_ANY = re.compile(r"```[^\n`]*\n(.*?)```", re.S)
_OPEN_PY = re.compile(r"```(?:python|py|python3)[ \t]*\n(.*)\Z", re.S)


def extract_code(text: str) -> tuple[str, int]:
    """(code, character offset of the code in `text`, or -1 when there is none)."""
    for pattern in (_CLOSED_PY, _CLOSED_ANY, _OPEN_PY):
        matches = list(pattern.finditer(text))
        if matches:
            m = matches[-1]
            return m.group(1), m.start(1)
    return "", -1


def code_start_token(tokenizer, token_ids: list[int], char_offset: int) -> int:
    """Index of the token holding the code's first character (0 when unknown)."""
    if char_offset < 0:
        return 0
    # Decode growing prefixes the way the record text was decoded (special tokens skipped).
    lo, hi = 0, len(token_ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tokenizer.decode(token_ids[: mid + 1], skip_special_tokens=True)) > char_offset:
            hi = mid
        else:
            lo = mid + 1
    return min(lo, max(len(token_ids) - 1, 0))
