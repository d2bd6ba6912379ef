#!/usr/bin/env python3
"""DVC stage `validate`: run every (solution, tests) in the sandbox, keep what passes.

Outputs data/interim/validated.parquet (kept rows), data/interim/validation_outcomes.parquet (one
outcome per row) and results/validation.json: the funnel sampled → parsed → syntax ok → runs →
passes, per language; results/env/validate.json: the R and Julia versions (and packages, machine) that
judged them.
"""

import sys

from _common import setup, stage_parser, write_json
from rarelang.data.validate import funnel, validate
from rarelang.languages import canonical_language
from rarelang.manifest import environment
from rarelang.rewards import RewardTable
from rarelang.sandbox import SandboxPool
from rarelang.schema import read_table, write_table


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--problems", default="data/interim/problems.parquet")
    ap.add_argument("--translations", default="data/interim/translations.parquet")
    ap.add_argument("-o", "--output", default="data/interim/validated.parquet")
    ap.add_argument("--outcomes", default="data/interim/validation_outcomes.parquet")
    ap.add_argument("--metrics", default="results/validation.json")
    ap.add_argument("--environment", default="results/env/validate.json",
                    help="where to record the interpreters and packages that ran the tests")
    args = ap.parse_args()
    params, repo = setup(args)
    langs = [canonical_language(x) for x in params["data"]["languages"]]
    problems = read_table(repo / args.problems, "problems")
    translations = read_table(repo / args.translations, "translations", allow_empty=True)
    if problems["seed_lang"].notna().any():
        sampled = {lang: int((problems["seed_lang"] == lang).sum()) for lang in langs}
    else:
        sampled = {lang: len(problems) for lang in langs}
    with SandboxPool.from_params(params) as pool:
        outcomes = validate(translations, pool, (params.get("validate") or {}).get("timeout_s"),
                            progress=not args.quiet, rewards=RewardTable.from_params(params.get("reward")))
    kept = translations[outcomes["status"].to_numpy() == "passed"]
    write_table(outcomes, repo / args.outcomes, "outcomes")
    write_table(kept, repo / args.output, "translations")
    report = funnel(sampled, outcomes)
    write_json(repo / args.metrics, report)
    write_json(repo / args.environment, environment(params))
    for lang, f in report.items():
        print(f"validate {lang}: " + " → ".join(f"{k} {f[k]}" for k in ("sampled", "parsed", "syntax_ok", "runs", "passes"))
              + f" (yield {f['yield']:.1%})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
