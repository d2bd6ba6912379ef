#!/usr/bin/env bash
# The headline run on the GPU machine, in phases that each fit one device call:
#   bash scripts/gpu/headline.sh smoke|baseline|train|final
# Results go to $OUT (what comes back) and /root/stage/results (kept while the machine is warm).
set -euo pipefail
export PATH="/usr/local/bin:$PATH" PYTHONPATH="$PWD/src:/root/site" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
OUT="${OUT:-/root/stage/out}"; mkdir -p "$OUT" /root/stage/results
P=/root/stage/params.yaml
[ -f "$P" ] || { cp params.yaml "$P"; python3 scripts/apply_config.py configs/gpu-headline.yaml --params "$P"; }
case "$1" in
  smoke)
    python3 -c "import trl, datasets, peft, torch; print('trl', trl.__version__, 'cuda', torch.cuda.is_available())"
    printf 'f <- function(x) x + 1\n' > /tmp/c.R
    printf 'library(testthat)\ntest_that("a", { expect_equal(f(1), 2); expect_equal(f(2), 4) })\n' > /tmp/t.R
    python3 -m rarelang.cli --params "$P" exec --lang r --code /tmp/c.R --tests /tmp/t.R || true
    python3 -m rarelang.cli --params "$P" exec --lang r --code /tmp/c.R --tests /tmp/t.R --backend none --json || true ;;
  baseline)
    python3 scripts/evaluate.py --params "$P" --models base -o /root/stage/results/eval_base -q
    cp /root/stage/results/eval_base/metrics.json "$OUT/eval_base_metrics.json"
    cp /root/stage/results/eval_base/completions.parquet "$OUT/eval_base_completions.parquet" ;;
  train)
    python3 scripts/train_grpo.py --params "$P" -q
    cp /root/stage/results/train/grpo-r-0.5b/*.json /root/stage/results/train/grpo-r-0.5b/*.csv "$OUT/" ;;
  final)
    python3 scripts/evaluate.py --params "$P" --models trained -o /root/stage/results/eval_trained -q
    cp /root/stage/results/eval_trained/metrics.json "$OUT/eval_trained_metrics.json"
    cp /root/stage/results/eval_trained/completions.parquet "$OUT/eval_trained_completions.parquet" ;;
  *) echo "usage: $0 smoke|baseline|train|final" >&2; exit 2 ;;
esac
