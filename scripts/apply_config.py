#!/usr/bin/env python3
"""Apply a file of dotted-key overrides (e.g. what scripts/device/vllm_share.py writes) to a params file.

    python scripts/apply_config.py OVERRIDES.yaml [--params params.yaml] [-o OUT] [--dry-run]

Writes OUT (default: the params file itself). The file keeps its comments, order and layout wherever
an override does not touch it (a round trip through ruamel.yaml, which DVC itself depends on), so
`git diff params.yaml` shows exactly the overridden values and `dvc params diff` sees them. Where
ruamel.yaml is not installed (the GPU machine, which only ever writes a copy), the file is rewritten
plainly. Unknown keys are refused first (`rarelang check-params --overlay`).
"""

import argparse
import io
import sys
from pathlib import Path

import yaml

from rarelang.params_check import apply_overlay, check_files, set_dotted


def apply_keeping_comments(text: str, overlay_text: str) -> str:
    """``text`` (YAML) with the overlay's dotted keys set, comments and layout elsewhere kept. The
    overlay is read by the same round trip, so its values keep their spelling (5.0e-5 stays a float
    that YAML 1.1 readers also see as one)."""
    from ruamel.yaml import YAML
    rt = YAML()                           # round trip
    rt.preserve_quotes = True
    rt.width = 4096                       # do not re-wrap long lines
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    data = rt.load(text)
    for k, v in (rt.load(overlay_text) or {}).items():
        set_dotted(data, str(k), v)        # ruamel's maps are dicts: the plain overlay's own setter
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("-o", "--out", help="where to write the result (default: the params file itself)")
    ap.add_argument("--dry-run", action="store_true", help="print the result instead of writing it")
    args = ap.parse_args(argv)
    src, ov = Path(args.params), Path(args.overrides)
    for f in (src, ov):
        if not f.is_file():
            print(f"apply_config: no file {f}", file=sys.stderr)
            return 2
    errors = check_files(src, [ov], src)
    if errors:
        print("\n".join(f"apply_config: {e}" for e in errors), file=sys.stderr)
        return 2
    text = src.read_text()
    overrides = yaml.safe_load(ov.read_text()) or {}
    try:
        out = apply_keeping_comments(text, ov.read_text())
    except ImportError:
        out = yaml.safe_dump(apply_overlay(yaml.safe_load(text) or {}, overrides), sort_keys=False, width=110)
    # the round trip must mean exactly what the plain overlay means
    assert yaml.safe_load(out) == apply_overlay(yaml.safe_load(text) or {}, overrides), "apply_config: round trip differs"
    if args.dry_run:
        print(out, end="")
        return 0
    dest = Path(args.out) if args.out else src
    dest.write_text(out)
    print(f"applied {len(overrides)} override(s) from {args.overrides} to {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
