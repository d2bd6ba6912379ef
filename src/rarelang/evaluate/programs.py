"""From a completion to the program that is run, following each suite's protocol."""

from __future__ import annotations

import re

from ..languages import get_language
from ..completions import extract_code
from .suites import Problem



def chat_prompt(p: Problem) -> str:
    """What a chat model is asked (MultiPL-E problems are wrapped; held-out prompts are as in training)."""
    if p.kind != "multipl-e":
        return p.prompt
    lang = get_language(p.lang)
    fence = lang.fence
    return (f"Complete the following {lang.display} function. Answer with the complete function in a single "
            f"```{fence} code block.\n\n```{fence}\n{p.prompt.strip()}\n```")


def asked(p: Problem, chat: bool) -> str:
    """What a model is shown for a problem: under the chat protocol ``chat_prompt``, under the completion
    protocol the prompt itself (MultiPL-E's: the text to complete)."""
    return chat_prompt(p) if chat else p.prompt


def ask(gen, problems: list[Problem], n: int, temperature: float, max_tokens: int,
        seed: int) -> tuple[list[str], list[list[str]]]:
    """(what each problem was shown, its ``n`` completions) from a generator, under the generator's own
    protocol (``gen.chat``) and with each problem's stop tokens: how evaluate and ``rarelang solve`` ask."""
    shown = [asked(p, gen.chat) for p in problems]
    return shown, gen.generate(shown, n, temperature, max_tokens, stop=[p.stop for p in problems], seed=seed)


# A model's control tokens written out as text (`<|fim_prefix|>`, `<|endoftext|>`, `<|file_sep|>`, …, and
# look-alikes such as `<|output|>`): the answer ended there. The Qwen2.5-Coder students, dequantized from
# GGUF, wrote them as text when completing HumanEval-R prompts (`}<|fim_prefix|># Given a positive …`:
# 44% of the 1.5B base's answers, 82% of its syntax errors); an engine that skips special tokens never
# shows them, and no R or Julia program contains `<|name|>`.
CONTROL_TOKEN = re.compile(r"<\|[A-Za-z_][A-Za-z0-9_]*\|>")


def stop_at_stop_tokens(text: str, stops: list[str], control_tokens: bool = True) -> str:
    """MultiPL-E's rule: cut the completion at the first occurrence of any stop token — and (``control_tokens``, our
    addition) at the first control token written as text (CONTROL_TOKEN)."""
    m = CONTROL_TOKEN.search(text) if control_tokens else None
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:min(cut, m.start()) if m else cut]


def _body_after_signature(code: str, p: Problem) -> str | None:
    """The part of a full function after its signature (so the prompt's signature is not redefined)."""
    name = re.escape(p.entry_point)
    if p.lang == "r":
        m = re.search(rf"^\s*`?{name}`?\s*(<-|=)\s*function\s*\(", code, re.M)
        if not m:
            return None
        brace = code.find("{", m.end())
        return None if brace < 0 else code[brace + 1:]
    m = re.search(rf"^\s*function\s+{name}\s*\(.*$", code, re.M)
    return None if not m else code[m.end():]


def multipl_e_program(p: Problem, completion: str, chat: bool) -> str | None:
    """prompt + completion (MultiPL-E); for chat answers the body is extracted first. None when an
    answer has no usable code."""
    if not chat:
        return p.prompt + stop_at_stop_tokens(completion, p.stop)
    code = extract_code(completion, p.lang)
    if code is None:
        return None
    body = _body_after_signature(code, p)
    if body is None:                      # the answer is a body already
        body = "\n" + code
        if p.lang == "r" and body.count("{") >= body.count("}"):
            body += "}\n"
    return p.prompt + body


def program_for(p: Problem, completion: str, chat: bool) -> str | None:
    if p.kind == "multipl-e":
        return multipl_e_program(p, completion, chat)
    return extract_code(completion, p.lang)
