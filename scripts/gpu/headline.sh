#!/usr/bin/env bash
# The headline run on the GPU machine, in phases that each fit one device call:
#   bash scripts/gpu/headline.sh LANG PHASE [PHASE ...]      LANG: r | julia
#   PHASE: smoke | baseline | train | final | bundle
# Settings: configs/gpu-headline.yaml, then configs/gpu-headline-LANG.yaml, applied to a copy of
# params.yaml. Results stay in /root/stage/results/LANG while the machine is warm; every phase
# copies what it produced to $OUT (what comes back; at most 8 files of 16 MiB), and `bundle` packs
# the run's results and the trained adapter into $OUT/bundle-LANG.tar.partNN (15 MiB pieces) so a
# run can go on from its adapter on another machine.
set -euo pipefail
export PATH="/usr/local/bin:$PATH" PYTHONPATH="$PWD/src:/root/site" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
LANG_RUN=${1:?usage: $0 r|julia PHASE...}; shift
case "$LANG_RUN" in r|julia) ;; *) echo "unknown language $LANG_RUN" >&2; exit 2 ;; esac
OUT="${OUT:-/root/stage/out}"; RES=/root/stage/results/$LANG_RUN
mkdir -p "$OUT" "$RES"
P=/root/stage/params-$LANG_RUN.yaml
if [ ! -f "$P" ]; then
  cp params.yaml "$P"
  python3 scripts/apply_config.py configs/gpu-headline.yaml --params "$P"
  python3 scripts/apply_config.py "configs/gpu-headline-$LANG_RUN.yaml" --params "$P"
fi
RUN=$(python3 -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['train']['run_name'])" "$P")
for phase in "$@"; do
  t0=$(date +%s)
  case "$phase" in
    smoke)
      python3 -c "import trl, datasets, peft, torch; print('trl', trl.__version__, 'cuda', torch.cuda.is_available())"
      if [ "$LANG_RUN" = r ]; then
        printf 'f <- function(x) x + 1\n' > /tmp/c.txt
        printf 'library(testthat)\ntest_that("a", { expect_equal(f(1), 2); expect_equal(f(2), 4) })\n' > /tmp/t.txt
      else
        printf 'f(x) = x + 1\n' > /tmp/c.txt
        printf 'using Test\n@testset "a" begin\n@test f(1) == 2\n@test f(2) == 4\nend\n' > /tmp/t.txt
      fi
      # expected: tests_failed 1/2, in the sandbox
      python3 -m rarelang.cli --params "$P" exec --lang "$LANG_RUN" --code /tmp/c.txt --tests /tmp/t.txt --json ;;
    baseline|final)
      model=base; [ "$phase" = final ] && model=trained
      python3 scripts/evaluate.py --params "$P" --models "$model" -o "$RES/eval_$model" -q
      cp "$RES/eval_$model/metrics.json" "$OUT/eval_${model}_metrics-$LANG_RUN.json"
      cp "$RES/eval_$model/completions.parquet" "$OUT/eval_${model}_completions-$LANG_RUN.parquet" ;;
    train)
      python3 scripts/train_grpo.py --params "$P" -q
      for f in "$RES"/train/"$RUN"/*.json "$RES"/train/"$RUN"/*.csv; do cp "$f" "$OUT/$(basename "${f%.*}")-$LANG_RUN.${f##*.}"; done ;;
    bundle)
      tar -C /root/stage -cf /root/stage/bundle-$LANG_RUN.tar "results/$LANG_RUN" "models/$RUN/adapter"
      split -b 15M -d /root/stage/bundle-$LANG_RUN.tar "$OUT/bundle-$LANG_RUN.tar.part"
      (cd "$OUT" && sha256sum /root/stage/bundle-$LANG_RUN.tar | cut -d' ' -f1 > bundle-$LANG_RUN.sha256) ;;
    *) echo "unknown phase $phase (smoke|baseline|train|final|bundle)" >&2; exit 2 ;;
  esac
  echo "headline: $LANG_RUN $phase took $(( $(date +%s) - t0 )) s"
done
