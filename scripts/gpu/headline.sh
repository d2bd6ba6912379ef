#!/usr/bin/env bash
# The headline run on the GPU machine, in phases that each fit one device call:
#   bash scripts/gpu/headline.sh LANG PHASE [PHASE ...]      LANG: r | julia
#   PHASE: smoke | baseline | train | final | bundle | bench-vllm | bench-generate | bench-unsloth |
#          bench-unsloth-vllm | bench-eval | protocols
# Settings: configs/gpu-headline.yaml, then configs/gpu-headline-LANG.yaml, applied to a copy of
# params.yaml. Results stay in /root/stage/results/LANG while the machine is warm; every phase
# copies what it produced to $OUT (what comes back; at most 8 files of 16 MiB), and `bundle` packs
# the run's results and the trained adapter into $OUT/bundle-LANG.tar.partNN (15 MiB pieces) so a
# run can go on from its adapter on another machine.
# bench-vllm / bench-generate: GRPO steps of the run's shape with and without vLLM → results/bench/train_gpu.json;
# bench-eval: base and trained through vLLM at n = 20 → results/bench/eval_gpu.json (both copied to $OUT).
# Engine starts are guarded by rarelang.watchdog (a hung start is killed and tried once more).
set -euo pipefail
. scripts/gpu/env.sh
WATCH=(python3 -m rarelang.watchdog --startup-timeout "${STARTUP_TIMEOUT:-240}" --retries 1 --)
BENCH_STEPS=${BENCH_STEPS:-12}
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
      # expected: tests_failed 1/2, in the sandbox (exec exits 1 for anything but passed)
      python3 -m rarelang.cli --params "$P" exec --lang "$LANG_RUN" --code /tmp/c.txt --tests /tmp/t.txt --json \
        | tee /tmp/smoke.json || true
      grep -q '"status": "tests_failed", "tests_passed": 1, "tests_total": 2' /tmp/smoke.json \
        || { echo "headline: smoke: the sandbox did not score 1/2 as expected" >&2; exit 1; } ;;
    baseline|final)
      model=base; [ "$phase" = final ] && model=trained
      "${WATCH[@]}" python3 scripts/evaluate.py --params "$P" --models "$model" -o "$RES/eval_$model" -q
      cp "$RES/eval_$model/metrics.json" "$OUT/eval_${model}_metrics-$LANG_RUN.json"
      cp "$RES/eval_$model/completions.parquet" "$OUT/eval_${model}_completions-$LANG_RUN.parquet" ;;
    train)
      "${WATCH[@]}" python3 scripts/train_grpo.py --params "$P" -q
      for f in "$RES"/train/"$RUN"/*.json "$RES"/train/"$RUN"/*.csv; do cp "$f" "$OUT/$(basename "${f%.*}")-$LANG_RUN.${f##*.}"; done ;;
    bundle)
      tar -C /root/stage -cf /root/stage/bundle-$LANG_RUN.tar "results/$LANG_RUN" "models/$RUN/adapter"
      split -b 15M -d /root/stage/bundle-$LANG_RUN.tar "$OUT/bundle-$LANG_RUN.tar.part"
      (cd "$OUT" && sha256sum /root/stage/bundle-$LANG_RUN.tar | cut -d' ' -f1 > bundle-$LANG_RUN.sha256) ;;
    bench-vllm|bench-generate)
      v=true; steps=$BENCH_STEPS; [ "$phase" = bench-generate ] && { v=false; steps=${BENCH_STEPS_GENERATE:-6}; }
      "${WATCH[@]}" python3 scripts/bench_train.py --params "$P" -q --steps "$steps" --label "${phase#bench-}-$LANG_RUN" \
          --set grpo.use_vllm=$v --set max_wall_s=null --keep-adapter "/root/stage/models/bench-${phase#bench-}-$LANG_RUN/adapter"
      cp results/bench/train_gpu.json "$OUT/train_gpu.json" ;;
    protocols)
      # the base model under both protocols at the BigCode leaderboard's setting (n = 20, T = 0.2),
      # ≤ 768 new tokens (384 truncated 7-8% of base answers), held-out (chat) + HumanEval (both)
      { printf 'evaluate.samples:\n  - {name: t0.2, n: 20, temperature: 0.2, k: [1]}\n'
        printf 'evaluate.protocols: [chat, completion]\nevaluate.max_tokens: 768\n'; } > /root/stage/protocols.yaml
      cp "$P" /root/stage/params-protocols-$LANG_RUN.yaml
      python3 scripts/apply_config.py /root/stage/protocols.yaml --params /root/stage/params-protocols-$LANG_RUN.yaml
      pm=${PROTO_MODELS:-base}      # or trained (the run's adapter), or base,trained
      "${WATCH[@]}" python3 scripts/evaluate.py --params /root/stage/params-protocols-$LANG_RUN.yaml --models "$pm" \
          -o "$RES/eval_protocols-${pm/,/+}" -q
      for f in metrics.json timings.json paired.json completions.parquet; do
        [ -f "$RES/eval_protocols-${pm/,/+}/$f" ] && cp "$RES/eval_protocols-${pm/,/+}/$f" "$OUT/protocols-${pm/,/+}-$LANG_RUN-$f"
      done ;;
    bench-unsloth|bench-unsloth-vllm)
      # Unsloth (FastLanguageModel + its LoRA): generation by Unsloth's own generate, or with
      # fast_inference by Unsloth's vLLM engine (same memory share as TRL's colocated engine)
      fi=false; [ "$phase" = bench-unsloth-vllm ] && fi=true
      "${WATCH[@]}" python3 scripts/bench_train.py --params "$P" -q --steps "${BENCH_STEPS_UNSLOTH:-$BENCH_STEPS}" \
          --label "${phase#bench-}-$LANG_RUN" --set backend=unsloth --set unsloth.fast_inference=$fi \
          --set grpo.use_vllm=$fi --set unsloth.gpu_memory_utilization=0.3 --set max_wall_s=null
      cp results/bench/train_gpu.json "$OUT/train_gpu.json" ;;
    bench-eval)
      # n = 20 at T = 0.2; the trained model is the adapter of the last bench-vllm run (a few steps:
      # this measures the LoRA path's speed, not a training result)
      ad=/root/stage/models/bench-vllm-$LANG_RUN/adapter; models=base; [ -f "$ad/adapter_config.json" ] && models=base,trained
      { printf 'evaluate.samples:\n  - {name: t0.2, n: 20, temperature: 0.2, k: [1]}\n'
        printf 'evaluate.models.trained.adapter: %s\n' "$ad"; } > /root/stage/bench-eval.yaml
      cp "$P" /root/stage/params-bench-eval.yaml
      python3 scripts/apply_config.py /root/stage/bench-eval.yaml --params /root/stage/params-bench-eval.yaml
      "${WATCH[@]}" python3 scripts/bench_eval.py --params /root/stage/params-bench-eval.yaml -q --label "vllm-$LANG_RUN" \
          --models "$models" --out-dir "$RES/bench_eval"
      cp results/bench/eval_gpu.json "$OUT/eval_gpu.json" ;;
    *) echo "unknown phase $phase (smoke|baseline|train|final|bundle|bench-vllm|bench-generate|bench-unsloth|bench-unsloth-vllm|bench-eval|protocols)" >&2; exit 2 ;;
  esac
  echo "headline: $LANG_RUN $phase took $(( $(date +%s) - t0 )) s"
done
