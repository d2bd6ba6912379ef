"""Fenced code blocks in model answers (```tag ... ```), shared by the parser and the reward."""

from __future__ import annotations

import re

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)(?:(?<=\n)[ \t]*```|\Z)", re.S)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(lower-cased tag, body) of every fenced block; an unclosed last block runs to the end."""
    return [(m.group(1).lower(), m.group(2)) for m in FENCE.finditer(text)]
