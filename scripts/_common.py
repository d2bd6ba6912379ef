"""Shared bits of the stage entry points (argument parsing, params, JSON metrics)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from rarelang.params import load_params, repo_root


def stage_parser(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=None, help="params.yaml (default: the repository's)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return ap


def setup(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """Logging, the params file (checked against the repository's params.yaml: an unknown key is an
    error naming the nearest valid one) and the repository root."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    params = load_params(args.params)
    reference = repo_root() / "params.yaml"
    if reference.exists():
        import yaml

        from rarelang.params_check import check
        errors = check(params, yaml.safe_load(reference.read_text()) or {}, check_grpo=False)
        if errors:
            sys.exit(f"{args.params or 'params.yaml'}: {len(errors)} problem(s):\n  " + "\n  ".join(errors))
    return params, repo_root()


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
