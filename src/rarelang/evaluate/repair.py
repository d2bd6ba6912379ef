"""Documented repairs of MultiPL-E problems whose prompt cannot parse as presented.

MultiPL-E's builder produces a few prompts that no completion can save (the same bugs are in the
upstream suite, so every model evaluated on it is capped by them):

* ``docstring-quote`` (Julia): the docstring ends in a string literal (``"100"``) directly
  followed by its closing triple quote, and Julia fails with "cannot juxtapose string literal"
  (25 of HumanEval-Julia). Repair: a newline before the closing triple quote.
* ``stray-angle`` (Julia): a type in the signature carries a stray ``>`` after its braces
  (``Dict{String, Int64}>``; HumanEval_95/111 and six MBPP problems). Repair: drop the ``>``, in
  the prompt and, where the same type appears there, in the tests.
* ``backtick-name`` (R): the entry point is not a syntactic R name (``_sum``). Repair: backquote
  it in the prompt's definition and where the tests refer to it.

Nothing else about a problem changes; each repaired problem records what was done, and the
evaluation reports how many problems of each suite were repaired (``repaired`` in metrics).
A test parses every prompt of every suite with the real interpreters.
"""

from __future__ import annotations

import re

_STRAY_ANGLE = re.compile(r"(\{[^{}\n]*(?:\{[^{}\n]*\}[^{}\n]*)*\})>")
_R_NAME = re.compile(r"^((?:[A-Za-z]|[.](?![0-9]))[A-Za-z0-9._]*|[.])$")


def _fix_docstring_quote(prompt: str) -> tuple[str, bool]:
    """A Julia docstring whose text ends in ``"`` closes as ``""""``: put the closing quotes on their own line."""
    m = re.search(r'"""[ \t]*\n[ \t]*function\b', prompt)
    if m and prompt.lstrip().startswith('"""') and m.start() > 0 and prompt[m.start() - 1] == '"':
        return prompt[:m.start()] + "\n" + prompt[m.start():], True
    return prompt, False


def repair_problem(lang: str, prompt: str, tests: str, entry_point: str) -> tuple[str, str, list[str]]:
    """(prompt, tests, names of the repairs applied) for one MultiPL-E problem."""
    fixes: list[str] = []
    if lang == "julia":
        prompt, changed = _fix_docstring_quote(prompt)
        if changed:
            fixes.append("docstring-quote")
        lines = prompt.split("\n")
        sig = max((i for i, ln in enumerate(lines) if ln.lstrip().startswith("function ")), default=None)
        if sig is not None and _STRAY_ANGLE.search(lines[sig]):
            bad = {m.group(0) for m in _STRAY_ANGLE.finditer(lines[sig])}
            lines[sig] = _STRAY_ANGLE.sub(r"\1", lines[sig])
            prompt = "\n".join(lines)
            for b in bad:
                tests = tests.replace(b, b[:-1])
            fixes.append("stray-angle")
    elif lang == "r" and entry_point and not _R_NAME.match(entry_point):
        name = re.escape(entry_point)
        prompt, n = re.subn(rf"(?m)^{name}(\s*<-\s*function)", rf"`{entry_point}`\1", prompt)
        tests = re.sub(rf"(?<![\w.`]){name}(?![\w.`])", f"`{entry_point}`", tests)
        if n:
            fixes.append("backtick-name")
    return prompt, tests, fixes
