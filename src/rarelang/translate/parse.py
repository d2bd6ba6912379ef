"""Parse a teacher's answer into (prompt, solution, tests), robustly, or say why not.

Tolerates: headings as ``### PROMPT`` / ``**Prompt:**`` / ``PROMPT:``; code with or without
fences, with any fence tag; missing headings (falls back to the order of fenced blocks). Rejects,
with a reason: missing parts, code in the wrong language, tests that do not use the test
framework, a prompt that leaks tests, tests that redefine the solution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..codeblocks import FENCE, fenced_blocks
from ..languages import get_language

_HEADING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*(prompt|problem(?: statement)?|solution|code|tests?|unit tests?)"
    r"[ \t]*(?:\*\*|__)?[ \t]*:?[ \t]*(?:\*\*|__)?[ \t]*$", re.I | re.M)
_KIND = {"prompt": "prompt", "problem": "prompt", "problem statement": "prompt", "solution": "solution",
         "code": "solution", "test": "tests", "tests": "tests", "unit test": "tests", "unit tests": "tests"}

OTHER_TAGS = {"python", "py", "python3", "javascript", "js", "java", "cpp", "c++", "c", "rust", "go",
              "ruby", "matlab", "typescript", "ts", "bash", "sh"}
TEST_MARKER = {"julia": re.compile(r"@test\b"), "r": re.compile(r"\b(test_that|expect_[a-z_]+)\s*\(")}
PY_LINE = re.compile(r"^\s*(def [A-Za-z_]\w*\(.*\)\s*(->.*)?:\s*$|import [a-z_]+\s*$|from [a-z_.]+ import )", re.M)


@dataclass
class Parsed:
    prompt: str
    solution: str
    tests: str
    prompt_origin: str = "teacher"     # "question" when the teacher gave no prompt (see fallback)


# where tests start inside a single block that holds solution and tests
TEST_START = {"julia": re.compile(r"^\s*(using\s+Test\b|@testset\b|@test\b)", re.M),
              "r": re.compile(r"^\s*(library\(testthat\)|test_that\s*\(|expect_[a-z_]+\s*\()", re.M)}


class ParseReject(ValueError):
    """The answer cannot be used; ``str(e)`` is the reason kept in the rejects file."""


def _sections(text: str) -> dict[str, str]:
    marks = [(m.start(), m.end(), _KIND[m.group(1).lower()]) for m in _HEADING.finditer(text)]
    out: dict[str, str] = {}
    for i, (_, end, kind) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        if kind not in out:             # the first section of each kind wins
            out[kind] = text[end:stop].strip()
    return out


def _code(section: str) -> tuple[str, str]:
    """(fence tag, code) of the first fenced block, else ("", the section as is)."""
    m = FENCE.search(section)
    if m:
        return m.group(1).lower(), m.group(2).strip("\n")
    return "", section.strip()


def _check_language(code: str, tag: str, lang: str, what: str) -> None:
    if tag and tag in OTHER_TAGS:
        raise ParseReject(f"{what} is fenced as {tag}, not {lang}")
    if PY_LINE.search(code):
        raise ParseReject(f"{what} looks like Python, not {lang}")


def _split_block(code: str, lang: str) -> tuple[str, str] | None:
    """One block with the solution first and the tests after it: cut where the tests start."""
    m = TEST_START[lang].search(code)
    if not m or m.start() == 0:
        return None
    head = code[: m.start()]
    # comment lines right above the tests ("# Test cases") belong to the tests
    lines = head.rstrip("\n").split("\n")
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()
    return "\n".join(lines), code[m.start():]


def parse_response(text: str, lang: str, entry: str = "", question: str = "") -> Parsed:
    """``question`` (the Python problem) stands in for a missing PROMPT section, with "Python"
    replaced by the language's name; the result says so (``prompt_origin="question"``)."""
    if not isinstance(text, str) or not text.strip():
        raise ParseReject("empty response")
    text = text.replace("\r\n", "\n")
    sec = _sections(text)
    if "solution" in sec and "tests" in sec:
        sol_tag, solution = _code(sec["solution"])
        test_tag, tests = _code(sec["tests"])
        prompt = sec.get("prompt", "")
    else:
        blocks = [(tag, code.strip("\n")) for tag, code in fenced_blocks(text)]
        if not blocks:
            raise ParseReject("no code in the response")
        test_idx = next((i for i, (_, c) in enumerate(blocks) if i > 0 and TEST_MARKER[lang].search(c)), None)
        if test_idx is not None:
            (sol_tag, solution), (test_tag, tests) = blocks[0], blocks[test_idx]
        else:
            cut = _split_block(blocks[0][1], lang)
            if cut is None:
                raise ParseReject("missing TESTS (no separate test code found)")
            sol_tag = test_tag = blocks[0][0]
            solution, tests = cut
        prompt = sec.get("prompt", "") or text[: text.find("```")].strip()
    prompt = re.sub(r"^```[^\n]*\n|```$", "", prompt.strip()).strip()
    origin = "teacher"
    if not prompt and question.strip():
        prompt = re.sub(r"\bPython\b", get_language(lang).display, question.strip())
        origin = "question"
    if not prompt:
        raise ParseReject("missing PROMPT section")
    if not solution.strip():
        raise ParseReject("empty SOLUTION")
    if not tests.strip():
        raise ParseReject("empty TESTS")
    _check_language(solution, sol_tag, lang, "solution")
    _check_language(tests, test_tag, lang, "tests")
    if re.search(r"per Python assert|implementation of `", solution + tests):
        raise ParseReject("the answer repeats the template's instructions instead of code")
    if not TEST_MARKER[lang].search(tests):
        raise ParseReject(f"tests do not use {'Test (@test)' if lang == 'julia' else 'testthat'}")
    if re.search(r"\bassert\b|@test\b|expect_[a-z_]+\s*\(|stopifnot\s*\(", prompt):
        raise ParseReject("prompt contains tests")
    if entry and entry not in solution:
        raise ParseReject(f"solution does not define `{entry}`")
    if entry and _defines(tests, entry, lang):
        raise ParseReject(f"tests redefine `{entry}`")
    return Parsed(prompt=prompt, solution=solution.strip() + "\n", tests=tests.strip() + "\n",
                  prompt_origin=origin)


def _defines(code: str, name: str, lang: str) -> bool:
    n = re.escape(name)
    if lang == "julia":
        return bool(re.search(rf"^\s*(function\s+{n}\s*\(|{n}\s*\([^)]*\)\s*=[^=])", code, re.M))
    return bool(re.search(rf"^\s*{n}\s*(<-|=)\s*function\b", code, re.M))
