"""Pull the program out of a model completion (fenced or bare) — the one rule training's reward and
evaluation's chat protocol share."""

from __future__ import annotations

import re
from typing import Any

from .codeblocks import fenced_blocks
from .languages import get_language

_CODE_HINT = {"julia": re.compile(r"^\s*(function\s+\w|\w+\s*\([^)]*\)\s*=[^=]|using\s+\w|struct\s+\w)", re.M),
              "r": re.compile(r"(<-|=)\s*function\s*\(", re.M)}


def completion_text(completion: Any) -> str:
    """TRL passes a string (standard format) or a list of messages (conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") or "" for m in completion
                       if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return ""


def extract_code(completion: Any, lang: str) -> str | None:
    """The program in a completion: the first block fenced with the language's tag, else the first
    untagged block, else the whole text if it looks like code of that language; None if no code."""
    text = completion_text(completion).replace("\r\n", "\n")
    blocks = fenced_blocks(text)
    tags = get_language(lang).fence_tags
    for tag, code in blocks:
        if tag in tags and code.strip():
            return code.strip("\n") + "\n"
    for tag, code in blocks:
        if not tag and code.strip():
            return code.strip("\n") + "\n"
    if not blocks and _CODE_HINT[lang].search(text):
        return text.strip("\n") + "\n"
    return None
