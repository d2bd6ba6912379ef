"""The instruction a model gets for a problem — shared by training (GRPO prompts) and evaluation
(held-out chat prompts): the problem, the signature of the function the tests call, and only for the
ablation the first test. Prompts never contain a test case otherwise (the original work put the
first test in the prompt, which leaks into evaluation)."""

from __future__ import annotations

import re

from .languages import LANGUAGES, get_language

INSTRUCTION = ("Solve the following problem in {display}. Answer with the complete {display} code in a "
               "single ```{fence} code block; do not write tests.\n\n{prompt}")


def _balanced_call(text: str, start: int) -> str:
    """The call starting at ``start`` up to its matching closing parenthesis."""
    depth, i, quote = 0, text.index("(", start), None
    for j in range(i, len(text)):
        c = text[j]
        if quote:
            if c == quote and text[j - 1] != "\\":
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start:j + 1]
    return text[start:]


def first_test(tests: str, lang: str) -> str:
    """The first test case of a test file (Julia: the first @test line; R: the first
    test_that block, else the first expectation / stopifnot), for the ablation."""
    if lang == "julia":
        m = re.search(r"^\s*@test\b.*$", tests, re.M)
        return m.group(0).strip() if m else ""
    m = re.search(r"\b(test_that|expect_[a-z_]+|stopifnot)\s*\(", tests)
    return _balanced_call(tests, m.start()).strip() if m else ""


# INSTRUCTION up to its language's name, then the name (read from the template, so the two cannot drift apart)
_ASKED = re.compile(re.escape(INSTRUCTION.split("{display}")[0]) + "(.+?)" + re.escape(INSTRUCTION.split("{display}")[1]))


def asked_language(prompt: str) -> str | None:
    """The language an instruction prompt (``INSTRUCTION``) asks for, by its name (``julia``, ``r``); None
    for any other text (MultiPL-E prompts, which name no language this way)."""
    m = _ASKED.match(prompt or "")
    if not m:
        return None
    return next((name for name, lang in LANGUAGES.items() if lang.display == m.group(1)), None)


SIGNATURE = "\n\nWrite it as a function with this signature:\n```{fence}\n{signature}\n```"


def entry_signature(solution: str, tests: str, lang: str) -> tuple[str, str]:
    """(entry point, signature) the tests call, from the reference solution; ("", "") if none."""
    found = get_language(lang).entry_point(solution or "", tests or "")
    return found if found else ("", "")


def build_prompt(prompt: str, lang: str, tests: str = "", include_first_test: bool = False,
                 signature: str = "") -> str:
    """The instruction a model gets: the problem, then (MultiPL-E gives every prompt one) the
    signature of the function the tests call, and, only for the ablation, the first test."""
    language = get_language(lang)
    text = INSTRUCTION.format(display=language.display, fence=language.fence, prompt=prompt.strip())
    if signature:
        text += SIGNATURE.format(fence=language.fence, signature=signature)
    if include_first_test:
        t = first_test(tests, lang)
        if t:
            text += f"\n\nFor example, this test must pass:\n```{language.fence}\n{t}\n```"
    return text
