"""Language registry: one module per language."""

from __future__ import annotations

from .base import InterpreterNotFound, Language
from .julia import Julia
from .r import R

LANGUAGES: dict[str, Language] = {lang.name: lang for lang in (Julia(), R())}
_ALIASES = {alias.lower(): lang.name for lang in LANGUAGES.values() for alias in lang.aliases}


class UnknownLanguage(ValueError):
    pass


def canonical_language(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in LANGUAGES:
        raise UnknownLanguage(f"unknown language {name!r}; supported: {', '.join(sorted(LANGUAGES))}")
    return key


def get_language(name: str) -> Language:
    return LANGUAGES[canonical_language(name)]


__all__ = ["LANGUAGES", "Language", "InterpreterNotFound", "UnknownLanguage", "canonical_language",
           "get_language"]
