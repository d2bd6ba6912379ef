"""Does an exported GGUF answer as the merged transformers model does? Greedy answers to a few fixed
prompts (asked as training asks: ``rarelang.prompts.build_prompt``, through the chat template) from the
transformers folder and from the GGUF through llama.cpp, compared text for text."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..prompts import build_prompt

# (language, problem, signature): small problems of the kind the held-out sets hold
CHECK_TASKS = [
    ("julia", "Return the sum of the squares of the numbers in a vector.", "function sum_squares(v::Vector{Int64})::Int64"),
    ("r", "Return the number of vowels (a, e, i, o, u) in a lower-case string.", "count_vowels <- function(s)"),
    ("julia", "Return true when a string reads the same backwards, ignoring case.", "function is_palindrome(s::String)::Bool"),
    ("r", "Return the n-th Fibonacci number, with fib(1) = fib(2) = 1.", "fib <- function(n)"),
]


def check_prompts(n: int | None = None) -> list[str]:
    return [build_prompt(text, lang, signature=sig) for lang, text, sig in CHECK_TASKS[:n]]


def transformers_answers(hf_dir: Path, prompts: list[str], max_tokens: int, threads: int | None = None) -> list[str]:
    """Greedy answers of a transformers folder on the CPU in float32, one prompt at a time (no padding)."""
    from ..llm.generators import TransformersGenerator
    gen = TransformersGenerator(Path(hf_dir), chat=True, batch_size=1, dtype="float32", device="cpu",
                                threads=threads, progress=False)
    return [c[0] for c in gen.generate(prompts, 1, 0.0, max_tokens)]


def gguf_answers(gguf: Path, prompts: list[str], max_tokens: int, threads: int | None = None) -> list[str]:
    """Greedy answers of a GGUF file through llama.cpp (llama-cpp-python), its own chat template."""
    from ..llm.generators import LlamaCppGenerator
    gen = LlamaCppGenerator(Path(gguf), chat=True, threads=threads or os.cpu_count())
    return [c[0] for c in gen.generate(prompts, 1, 0.0, max_tokens)]


def compare(reference: list[str], other: list[str]) -> dict[str, Any]:
    """How far two lists of answers agree: exact matches, and per answer the characters they share from the start."""
    rows = []
    for a, b in zip(reference, other):
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        rows.append({"same": a == b, "common_prefix_chars": k, "chars": [len(a), len(b)]})
    return {"prompts": len(rows), "identical": sum(r["same"] for r in rows),
            "common_prefix_share": round(sum(r["common_prefix_chars"] for r in rows)
                                         / max(1, sum(max(r["chars"]) for r in rows)), 4),
            "per_prompt": rows}
