#!/usr/bin/env python3
"""DVC stage `split`: dedup, MultiPL-E decontamination, deterministic train/test split by source task,
and a validation set carved out of train (split.validation_per_language rows per language; 0: none).

Outputs data/processed/{train,validation,test}.parquet (task_id, lang, prompt, solution, tests, source)
and results/split.json (counts, near-duplicates and contaminated rows removed).
"""

import sys
from pathlib import Path

from _common import setup, stage_parser, write_json
from rarelang.data.decontam import load_benchmark_signatures
from rarelang.data.split import carve_validation, load_entry_points, load_multipl_e_texts, split_dataset
from rarelang.params import default
from rarelang.schema import read_table, write_table


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--validated", default="data/interim/validated.parquet")
    ap.add_argument("--train", default="data/processed/train.parquet")
    ap.add_argument("--test", default="data/processed/test.parquet")
    ap.add_argument("--validation", default="data/processed/validation.parquet")
    ap.add_argument("--metrics", default="results/split.json")
    args = ap.parse_args()
    params, repo = setup(args)
    sp = params.get("split") or {}
    seed = int(sp.get("seed", default("split.seed", 0)))   # params.yaml's when the params leave it out
    df = read_table(repo / args.validated, "translations")
    ref, names, sigs = None, None, None
    mdir = sp.get("multipl_e_dir")
    if mdir:
        mpath = Path(mdir) if Path(mdir).is_absolute() else repo / mdir
        ref = load_multipl_e_texts(mpath)
        names = load_entry_points(mpath, list(sp.get("decontam_entry_points", ["humaneval"])))
        sigs = load_benchmark_signatures(mpath, list(sp.get("decontam_entry_points", ["humaneval"])))
    train, test, report = split_dataset(df, test_fraction=float(sp.get("test_fraction", 0.2)),
                                        seed=seed,
                                        dedup_threshold=float(sp.get("dedup_threshold", 0.9)),
                                        decontam_ngram=int(sp.get("decontam_ngram", 13)), reference=ref,
                                        entry_points=names,
                                        min_shared_assertions=int(sp.get("min_shared_assertions", 2)),
                                        benchmark_signatures=sigs,
                                        paraphrase_inputs=int(sp.get("paraphrase_inputs", 0)))
    train, validation, per_lang = carve_validation(train, int(sp.get("validation_per_language", 0)), seed)
    report["validation"] = {"rows": int(len(validation)), "per_language": per_lang,
                            "train_rows_after": int(len(train))}
    cols = ["task_id", "lang", "prompt", "solution", "tests", "source"]
    write_table(train[cols], repo / args.train, "processed")
    write_table(validation[cols], repo / args.validation, "processed")
    write_table(test[cols], repo / args.test, "processed")
    write_json(repo / args.metrics, report)
    print(f"split: {len(train)} train / {len(validation)} validation / {report['test_rows']} test; removed "
          f"{report['near_duplicates_removed']} near-duplicate(s), {report['contaminated_removed']} contaminated, "
          f"{report['entry_point_contaminated_removed']} with a benchmark's entry point, "
          f"{report['paraphrase_contaminated_removed']} paraphrasing a benchmark problem, "
          f"{report['test_duplicates_of_train_removed']} test duplicate(s) of train problems",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
