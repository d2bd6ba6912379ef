"""Loading ``params.yaml`` (the single source of every knob) into typed sections."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

PARAMS_ENV = "RARELANG_PARAMS"


def repo_root() -> Path:
    """The checkout this package lives in (``src/rarelang`` → two levels up)."""
    return Path(__file__).resolve().parents[2]


def default_params_path() -> Path:
    env = os.environ.get(PARAMS_ENV)
    if env:
        return Path(env)
    cwd = Path.cwd() / "params.yaml"
    return cwd if cwd.exists() else repo_root() / "params.yaml"


def load_params(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read params.yaml; a missing file is an empty dict only when no path was given."""
    p = Path(path) if path is not None else default_params_path()
    if not p.exists():
        if path is not None:
            raise FileNotFoundError(f"params file not found: {p}")
        return {}
    with open(p, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    return data


@functools.lru_cache(maxsize=None)
def _repository_params() -> dict[str, Any]:
    path = repo_root() / "params.yaml"
    return load_params(path) if path.exists() else {}


def dotted(params: Any, key: str, missing: Any = None) -> Any:
    """The value of a dotted key (``train.grpo.max_steps``) in nested mappings; ``missing`` where a part of it
    is not there (a value that is None is there)."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return missing
        node = node[part]
    return node


def default(key: str, fallback: Any = None) -> Any:
    """The repository params.yaml's value of a dotted key (``train.grpo``): the one place defaults are
    written down, so code that needs one for a partial params dict agrees with it. ``fallback`` only
    where params.yaml is not there (an installed package without its checkout)."""
    return copy.deepcopy(dotted(_repository_params(), key, fallback))


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"params.yaml: section '{name}' must be a mapping")
    return value
