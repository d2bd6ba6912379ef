#!/usr/bin/env bash
# One GPU machine, 2026-12-04 (issue 15): julia-0.5b's training, the 0.5B and 1.5B re-asks of the 75 mixed-up
# held-out Julia problems beside it, and julia-0.5b's held-out Julia evaluation at the end. Each step is one
# device call with a short command, so the calls after staging can be issued back to back (a machine goes
# back 30 s after a call). Times count from the first call's clock, /root/stage/T0 (docs/GPU.md).
#   train    [TRAIN_END=1720]  julia-0.5b's train-bg, its budget ending TRAIN_END s after T0
#   reask05                    once the trainer's engine is up: the 0.5B re-ask (6 models) in the background
#   mid      [END]             until END s after T0 (the argument, else MID_END, else 1600; at most 565 s from
#                              now): pack each re-ask when it ends, start the 1.5B
#                              re-ask once its model is converted and the 0.5B one has ended; then hand out
#                              julia-0.5b's best adapter and log (WAIT_ADAPTER)
#   final                      wait for the training to stop, evaluate the checkpoint validation chose on
#                              held-out Julia (+ HumanEval/MBPP-Julia as far as time allows; FINISH_PARTIAL),
#                              hand out its adapter, pack the run
set -uo pipefail
cd "$(dirname "$0")/../.."
S=/root/stage; H=scripts/gpu/headline.sh
. scripts/gpu/machine_clock.sh      # now, t0, el, alive, set_t0, train_bg
conv15_done() {   # the 1.5B transformers folder is complete (its conversion process has ended)
  [ -f $S/models/hf/qwen2.5-coder-1.5b-instruct-q4_k_m/config.json ] && ! alive $S/convert-model-1.5b.pid
}
start15() {
  [ -f $S/reask-adapters/unified-1.5b-step300/adapter_model.safetensors ] || return 0
  [ -f $S/reask15.started ] && return 0
  conv15_done || return 0
  alive $S/results/unified-0.5b/reask-all.pid && return 0
  EVAL_WORKERS=6 EVAL_MODELS=all EVAL_TAG=reask EVAL_CONFIG=configs/gpu-eval-v2-reask-julia-1.5b.yaml \
    bash $H unified-1.5b eval-bg && touch $S/reask15.started
}
pack_done() {   # RUN: pack its re-ask once it has ended with metrics
  local run=$1
  [ -f $S/packed-$run ] && return 0
  alive $S/results/$run/reask-all.pid && return 0
  [ -f $S/results/$run/reask-all/metrics.json ] || return 0
  bash $H "$run" pack && touch $S/packed-$run
  tail -3 $S/results/$run/reask-all.log
}
case "${1:?usage: $0 t0|train|reask05|mid|final}" in
  t0) set_t0 ;;
  train) train_bg julia-0.5b ${TRAIN_END:-1720} ;;
  reask05)
    for _ in $(seq 60); do grep -qE "it/s|s/it" $S/results/julia-0.5b/train.log 2>/dev/null && break; sleep 5; done
    echo "reask05: trainer up? $(tr '\r' '\n' < $S/results/julia-0.5b/train.log | grep -E 'it/s|s/it' | tail -1 | cut -c1-120) $(el)"
    EVAL_WORKERS=6 EVAL_MODELS=all EVAL_TAG=reask EVAL_CONFIG=configs/gpu-eval-v2-reask-julia-0.5b.yaml \
      bash $H unified-0.5b eval-bg ;;
  mid)
    end=$(( $(t0) + ${2:-${MID_END:-1600}} )); cap=$(( $(now) + 565 )); [ $cap -lt $end ] && end=$cap
    # the 1.5B conversion (started by its last piece) may not have started when the site came late
    [ -f $S/model-pieces/model-1.5b/NAME ] && ! conv15_done && ! alive $S/convert-model-1.5b.pid \
      && MODEL_PIECES=.gpu/model-1.5b bash scripts/gpu/install.sh model
    while [ $(( $(now) + 25 )) -lt $end ]; do
      pack_done unified-0.5b; start15; pack_done unified-1.5b
      sleep 10
    done
    pack_done unified-0.5b; pack_done unified-1.5b
    WAIT_ADAPTER=1 WAIT_S=1 bash $H julia-0.5b wait
    for r in unified-0.5b unified-1.5b; do
      [ -f $S/results/$r/reask-all.log ] && echo "$r: $(tr '\r' '\n' < $S/results/$r/reask-all.log | grep -vE '^\s*$' | tail -1 | cut -c1-200)"
    done
    echo "mid: done $(el)" ;;
  final)
    cs=$(now)
    while alive $S/results/julia-0.5b/train.pid && [ $(( $(now) - cs )) -lt 200 ]; do sleep 5; done
    echo "final: training stopped? $(alive $S/results/julia-0.5b/train.pid && echo no || echo yes) $(el)"
    WAIT_ADAPTER=1 WAIT_S=1 bash $H julia-0.5b wait      # the adapter validation chose, first (a cut-off call keeps it)
    pack_done unified-0.5b; pack_done unified-1.5b
    EVAL_WORKERS=16 EVAL_MODELS=trained TRAINED_ADAPTER=best \
      EVAL_CONFIG="configs/gpu-eval-v2-heldout.yaml configs/gpu-eval-v2-julia-first.yaml" bash $H julia-0.5b eval-bg
    left=$(( cs + ${FINAL_EVAL_END:-480} - $(now) ))
    FINISH_PARTIAL=1 WAIT_ADAPTER=1 WAIT_S=$left bash $H julia-0.5b wait pack
    # $OUT brings back 8 files: the training log is also in the pack
    [ "$(ls $OUT | wc -l)" -gt 8 ] && rm -f $OUT/train-julia-0.5b.log
    ls -la $OUT
    echo "final: done $(el)" ;;
esac
