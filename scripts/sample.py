#!/usr/bin/env python3
"""DVC stage `sample`: a seeded sample of Python problems → data/interim/problems.parquet.

data.source (params.yaml): embedded (data/embedded/problems.jsonl), acecode (TIGER-Lab/AceCode-87K
through `datasets`), local (sample.local_path: parquet/jsonl with AceCode columns), or seed (the
original work's finished Julia/R sets, re-validated downstream).
"""

import sys

from _common import setup, stage_parser
from rarelang.data.sample import run_sample
from rarelang.schema import write_table


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("-o", "--output", default="data/interim/problems.parquet")
    args = ap.parse_args()
    params, repo = setup(args)
    df = run_sample(params, repo)
    write_table(df, repo / args.output, "problems", allow_empty=False)
    print(f"sample: {len(df)} problem(s) from data.source={params['data']['source']} → {args.output}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
