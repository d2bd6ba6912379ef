#!/usr/bin/env bash
# One GPU machine, 2026-12-04 (issue 15): the test of julia-0.5b's committed adapter (checkpoint 200: held-out
# Julia and R, HumanEval/MBPP for both languages, both protocols, n = 20, T = 0.2) and, beside it, r-0.5b-binary
# (r-0.5b with a binary reward: the lever not yet tried) trained for what the machine has left, then its best
# checkpoint tested on held-out R and HumanEval-R as far as time allows. Each step is one device call with a
# short command, so the calls after staging can be issued back to back (a machine goes back 30 s after a call).
# Times count from /root/stage/T0, the container's start (docs/GPU.md).
#   t0                          the clock
#   train  [TRAIN_END=1150]     r-0.5b-binary's train-bg, its budget ending TRAIN_END s after T0
#   evals                       once the trainer's engine is up: julia-0.5b's held-out evaluation in the background,
#                               and once that engine is up, its MultiPL-E evaluation
#   mid    [END]                until END s after T0 (at most 565 s from now): pack julia-0.5b when both of its
#                               evaluations have ended; then hand out r-0.5b-binary's best adapter and log
#   final  [FINAL_END=1680]     wait for the training to stop, hand out its best adapter, evaluate it on held-out R
#                               and HumanEval-R, and at FINAL_END s after T0 stop what still runs (scoring what it
#                               completed: FINISH_PARTIAL) and pack both runs
set -uo pipefail
cd "$(dirname "$0")/../.."
S=/root/stage; H=scripts/gpu/headline.sh
. scripts/gpu/machine_clock.sh      # now, t0, el, alive, set_t0, train_bg
J=julia-0.5b; B=r-0.5b-binary
# wait up to $2 s for a line matching $3 in log $1
wait_log() { local i; for i in $(seq $(( $2 / 5 ))); do tr '\r' '\n' < "$1" 2>/dev/null | grep -qE "$3" && return 0; sleep 5; done; return 1; }
j_ended() { ! alive $S/results/$J/heldout-trained.pid && ! alive $S/results/$J/multipl-e-trained.pid \
            && [ -f $S/results/$J/heldout-trained.pid ] && [ -f $S/results/$J/multipl-e-trained.pid ]; }
pack_j() {
  [ -f $S/packed-$J ] && return 0
  bash $H $J pack && touch $S/packed-$J
  for t in heldout-trained multipl-e-trained; do tr '\r' '\n' < $S/results/$J/$t.log | grep -E "pass@1" | tail -8; done
}
case "${1:?usage: $0 t0|train|evals|mid|final}" in
  t0) set_t0 ;;
  train) train_bg $B ${TRAIN_END:-1150} ;;
  evals)
    wait_log $S/results/$B/train.log 150 "it/s|s/it" || echo "evals: the trainer is not up after 150 s"
    echo "evals: trainer: $(tr '\r' '\n' < $S/results/$B/train.log | grep -E 'it/s|s/it' | tail -1 | cut -c1-120) $(el)"
    TRAINED_ADAPTER=$S/adapter-julia-0.5b EVAL_MODELS=trained EVAL_TAG=heldout \
      EVAL_CONFIG=configs/gpu-eval-v2-heldout.yaml bash $H $J eval-bg
    wait_log $S/results/$J/heldout-trained.log 180 "Processed prompts|init engine" || echo "evals: held-out engine not up after 180 s"
    echo "evals: held-out engine up $(el)"
    TRAINED_ADAPTER=$S/adapter-julia-0.5b EVAL_MODELS=trained EVAL_TAG=multipl-e \
      EVAL_CONFIG=configs/gpu-eval-v2-multipl-e.yaml bash $H $J eval-bg
    echo "evals: done $(el)" ;;
  mid)
    end=$(( $(t0) + ${2:-${MID_END:-1100}} )); cap=$(( $(now) + 565 )); [ $cap -lt $end ] && end=$cap
    while [ $(( $(now) + 20 )) -lt $end ]; do
      j_ended && pack_j
      sleep 10
    done
    j_ended && pack_j
    WAIT_ADAPTER=1 WAIT_S=1 bash $H $B wait
    for t in heldout-trained multipl-e-trained; do
      echo "$J $t: $(tr '\r' '\n' < $S/results/$J/$t.log 2>/dev/null | grep -vE '^\s*$' | tail -1 | cut -c1-200)"
    done
    echo "mid: done $(el)" ;;
  final)
    fend=$(( $(t0) + ${FINAL_END:-1680} )); cap=$(( $(now) + 570 )); [ $cap -lt $fend ] && fend=$cap
    while alive $S/results/$B/train.pid && [ $(( fend - $(now) )) -gt 300 ]; do sleep 5; done
    echo "final: training stopped? $(alive $S/results/$B/train.pid && echo no || echo yes) $(el)"
    WAIT_ADAPTER=1 WAIT_S=1 bash $H $B wait      # the adapter validation chose, first (a cut-off call keeps it)
    if ! alive $S/results/$B/train.pid; then
      w=16; j_ended || w=8
      EVAL_WORKERS=$w EVAL_MODELS=trained TRAINED_ADAPTER=best EVAL_TAG=r \
        EVAL_CONFIG=configs/gpu-eval-v2-r-only.yaml bash $H $B eval-bg
    fi
    while [ $(( $(now) + 25 )) -lt $fend ]; do
      j_ended && pack_j
      j_ended && ! alive $S/results/$B/r-trained.pid && break
      sleep 10
    done
    # what still runs is stopped and scored from what it completed; then both runs are packed
    [ -f $S/packed-$J ] || { FINISH_PARTIAL=1 WAIT_ADAPTER=1 WAIT_S=1 bash $H $J wait; pack_j; }
    FINISH_PARTIAL=1 WAIT_ADAPTER=1 WAIT_S=1 bash $H $B wait pack
    tr '\r' '\n' < $S/results/$B/r-trained.log 2>/dev/null | grep -E "pass@1" | tail -4
    [ "$(ls $OUT | wc -l)" -gt 8 ] && rm -f $OUT/train-$B.log
    ls -la $OUT
    echo "final: done $(el)" ;;
esac
