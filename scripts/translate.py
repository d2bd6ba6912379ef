#!/usr/bin/env python3
"""DVC stage `translate`: the teacher turns each problem into prompt + solution + tests per language.

Outputs data/interim/translations.parquet, data/interim/translate_rejects.parquet (every row the
parser refused, with the reason and the raw answer) and results/translate.json. Every request goes
through the content-addressed cache (translate.cache_path): a re-run, or a run resumed after a
crash, sends only what was never answered.
"""

import sys
from dataclasses import asdict

from _common import setup, stage_parser, write_json
from rarelang.schema import read_table, write_table
from rarelang.translate.run import run_translate


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--problems", default="data/interim/problems.parquet")
    ap.add_argument("-o", "--output", default="data/interim/translations.parquet")
    ap.add_argument("--rejects", default="data/interim/translate_rejects.parquet")
    ap.add_argument("--stats", default="results/translate.json")
    args = ap.parse_args()
    params, repo = setup(args)
    problems = read_table(repo / args.problems, "problems")
    good, bad, stats = run_translate(problems, params, repo, progress=not args.quiet)
    write_table(good, repo / args.output, "translations")
    write_table(bad, repo / args.rejects, "rejects")
    write_json(repo / args.stats, asdict(stats))
    print(f"translate: {stats.requests} request(s), {stats.cache_hits} from cache, {stats.generated} generated; "
          f"{stats.parsed} parsed, {stats.rejected} rejected {stats.by_reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
