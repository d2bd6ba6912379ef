#!/usr/bin/env bash
# The headline runs on the GPU machine, in phases that each fit one device call:
#   bash scripts/gpu/headline.sh RUN PHASE [PHASE ...]
#   RUN: r | julia (the first headline) or a headline-v2 run: unified-0.5b, …  (configs/gpu-headline-RUN.yaml)
#   PHASE: smoke | baseline | train | final | bundle | bundle-more | bench-vllm | bench-generate | bench-unsloth |
#          bench-unsloth-vllm | bench-eval | protocols |
#          train-bg | eval-bg | wait | state | restore-state        (headline v2, below)
# Settings: configs/gpu-headline.yaml, then configs/gpu-headline-RUN.yaml, applied to a copy of
# params.yaml. Results stay in $STAGE/results/RUN while the machine is warm; every phase
# copies what it produced to $OUT (what comes back; at most 8 files of 16 MiB), and `bundle` packs
# the run's results (logs, evaluations), the last trainer_state and the adapter (bf16) into
# $OUT/bundle-RUN.tar.partNN (15 MiB pieces, 4 per call: `BUNDLE_FROM=4 headline.sh RUN bundle-more`
# hands out the next ones; collect_run.py joins them from several calls' folders) — the last call of a
# machine, when the full state (`state`, with the optimizer) does not fit.
# bench-vllm / bench-generate: GRPO steps of the run's shape with and without vLLM → results/bench/train_gpu.json;
# bench-eval: base and trained through vLLM at n = 20 → results/bench/eval_gpu.json (both copied to $OUT).
# Headline v2 (one process keeps running across device calls while the machine stays warm):
#   train-bg       start the run's training in the background (TRAIN_WALL_S: its time budget; it stops
#                  and checkpoints then, and goes on from that checkpoint when started again)
#   eval-bg        start the v2 evaluation (EVAL_CONFIG, default configs/gpu-eval-v2.yaml, or several overlays
#                  separated by spaces, applied in order; results under
#                  EVAL_TAG-MODELS) of EVAL_MODELS (base | trained | base,trained | all:
#                  every model of the evaluation config) in the background,
#                  EVAL_WORKERS sandbox workers per language (8); TRAINED_ADAPTER: another adapter folder,
#                  or `best`: the checkpoint with the best validation metric (BUNDLE_ADAPTER likewise for bundle)
#   wait           wait up to WAIT_S (540) seconds for the background jobs; copy what finished to $OUT
#                  (FINISH_PARTIAL=1, for a machine's last call: an evaluation still running at WAIT_S is
#                  stopped and its completed suites are scored: evaluate.py --from-partial;
#                  WAIT_ADAPTER=1: copy only the trainer_state, the training log and — when it changed — the
#                  bf16 adapter of the checkpoint validation chose, so a lost machine loses only the steps since)
#   pack           the run's whole results folder (training logs and summaries, every evaluation with its
#                  answers, logs and manifests; no checkpoints) as ONE file, $OUT/results-RUN.tgz — for a
#                  call whose `wait` copies would pass $OUT's 8 files (e.g. after WAIT_ADAPTER's 7);
#                  collect_run.py reads it
#   state          the run's full trainer state (last checkpoint: adapter, optimizer, scheduler, RNG,
#                  trainer_state; its results) as 15 MiB pieces; STATE_FROM..STATE_TO of them (0-based; default
#                  4 from STATE_FROM, what one call brings back) to $OUT. STATE_FROM=0 packs the newest
#                  checkpoint; later calls hand out the rest of that pack
#   restore-state  unpack state pieces carried under .gpu/state*/ (another machine's `state`)
# Engine starts are guarded by rarelang.watchdog (a hung start is killed and tried once more).
set -euo pipefail
. scripts/gpu/env.sh
WATCH=(python3 -m rarelang.watchdog --startup-timeout "${STARTUP_TIMEOUT:-240}" --retries 1 --)
BENCH_STEPS=${BENCH_STEPS:-12}
LANG_RUN=${1:?usage: $0 RUN PHASE...}; shift
[ -f "configs/gpu-headline-$LANG_RUN.yaml" ] || { echo "unknown run $LANG_RUN (no configs/gpu-headline-$LANG_RUN.yaml)" >&2; exit 2; }
STAGE="${STAGE:-/root/stage}"     # where the machine keeps models, results and state (tests point it elsewhere)
OUT="${OUT:-$STAGE/out}"; RES=$STAGE/results/$LANG_RUN
mkdir -p "$OUT" "$RES"
P=$STAGE/params-$LANG_RUN.yaml
if [ ! -f "$P" ]; then
  cp params.yaml "$P"
  python3 scripts/apply_config.py configs/gpu-headline.yaml --params "$P"
  python3 scripts/apply_config.py "configs/gpu-headline-$LANG_RUN.yaml" --params "$P"
fi
read -r RUN TRAIN_DIR < <(python3 -c "import yaml,sys; t=yaml.safe_load(open(sys.argv[1]))['train']; \
print(t['run_name'], t.get('results_root', 'results/train') + '/' + t['run_name'])" "$P")
bg_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# the run's newest checkpoint folder (empty when it has none yet)
newest_ck() { ls -d $STAGE/models/"$RUN"/checkpoints/checkpoint-* 2>/dev/null | sort -t- -k2 -n | tail -1 || true; }
# the checkpoint with the best validation metric (grpo.metric_for_best_model), as the newest trainer_state records it
best_ck() {
  local ck; ck=$(newest_ck); [ -n "$ck" ] || { echo "headline: $RUN has no checkpoint" >&2; return 1; }
  python3 -c "import json, sys; b = json.load(open(sys.argv[1]))['best_model_checkpoint']; \
print(b) if b else sys.exit('headline: no best_model_checkpoint (set train.grpo.metric_for_best_model)')" "$ck/trainer_state.json"
}
# an adapter argument: a folder, or `best` (best_ck)
adapter_arg() { if [ "$1" = best ]; then best_ck; else realpath "$1"; fi; }
# bf16_adapter SRC DEST: an adapter's safetensors cast to bf16 (half the size; vLLM applies LoRA in bf16)
bf16_adapter() {
  python3 -c "import sys, torch; from safetensors.torch import load_file, save_file; \
save_file({k: v.to(torch.bfloat16) for k, v in load_file(sys.argv[1]).items()}, sys.argv[2])" "$1" "$2"
}
# bg_manifest LOG ARGS...: `scripts/manifest.py write ARGS...` in the background, in its own session: the device
# tool kills what a call leaves running when the call returns, except a new session (setsid) — a manifest
# begun at the end of a call was lost that way (r-1.5b's Julia evaluation, 2026-11-25). LOG gets its output.
bg_manifest() {
  local log=$1; shift
  setsid nohup bash -c 'python3 scripts/manifest.py write "$@" || echo "headline: no manifest written ($*)"' \
    manifest "$@" > "$log" 2>&1 < /dev/null &
}
# the run's logs, summary and config (what train writes at the end of each part) to $OUT
copy_train() {
  for f in "$TRAIN_DIR"/*.json "$TRAIN_DIR"/*.csv; do [ -f "$f" ] && cp "$f" "$OUT/$(basename "${f%.*}")-$LANG_RUN.${f##*.}"; done
  true    # a missing file is not an error (set -e)
}
copy_eval() {
  local d=$1 tag=$2 f
  for f in metrics.json timings.json paired.json completions.parquet; do
    [ -f "$d/$f" ] && cp "$d/$f" "$OUT/${tag//+/_}-$f"     # '+' does not come back from $OUT
  done
  true    # a missing file (paired.json of one model) is not an error (set -e)
}
# hand_out DIR NAME FROM TO VAR PHASE: pieces FROM..TO (0-based) of DIR/partNN to $OUT as NAME.partNN (a call
# brings back 64 MiB: four 15 MiB pieces), and which call fetches the rest (VAR=… headline.sh RUN PHASE)
hand_out() {
  local dir=$1 name=$2 from=$3 to=$4 var=$5 next=$6 n i=0 f
  n=$(ls "$dir"/part* | wc -l)
  for f in "$dir"/part*; do
    [ "$i" -ge "$from" ] && [ "$i" -le "$to" ] && cp "$f" "$OUT/$name.$(basename "$f")"
    i=$((i + 1)); done
  echo "headline: $n piece(s) of $name (part00..part$(printf %02d $((n - 1)))); this call: $from..$((to < n - 1 ? to : n - 1))"
  [ "$to" -ge $((n - 1)) ] || echo "headline: more pieces: $var=$((to + 1)) headline.sh $LANG_RUN $next"
}
for phase in "$@"; do
  t0=$(date +%s)
  case "$phase" in
    smoke)
      python3 -c "import trl, datasets, peft, torch; print('trl', trl.__version__, 'cuda', torch.cuda.is_available())"
      for SL in $(case "$LANG_RUN" in r|julia) echo "$LANG_RUN" ;; *) echo "r julia" ;; esac); do
      if [ "$SL" = r ]; then
        printf 'f <- function(x) x + 1\n' > /tmp/c.txt
        printf 'library(testthat)\ntest_that("a", { expect_equal(f(1), 2); expect_equal(f(2), 4) })\n' > /tmp/t.txt
      else
        printf 'f(x) = x + 1\n' > /tmp/c.txt
        printf 'using Test\n@testset "a" begin\n@test f(1) == 2\n@test f(2) == 4\nend\n' > /tmp/t.txt
      fi
      # expected: tests_failed 1/2, in the sandbox (exec exits 1 for anything but passed)
      python3 -m rarelang.cli --params "$P" exec --lang "$SL" --code /tmp/c.txt --tests /tmp/t.txt --json \
        | tee /tmp/smoke.json || true
      grep -q '"status": "tests_failed", "tests_passed": 1, "tests_total": 2' /tmp/smoke.json \
        || { echo "headline: smoke: the $SL sandbox did not score 1/2 as expected" >&2; exit 1; }
      done ;;
    baseline|final)
      model=base; [ "$phase" = final ] && model=trained
      "${WATCH[@]}" python3 scripts/evaluate.py --params "$P" --models "$model" -o "$RES/eval_$model" -q
      cp "$RES/eval_$model/metrics.json" "$OUT/eval_${model}_metrics-$LANG_RUN.json"
      cp "$RES/eval_$model/completions.parquet" "$OUT/eval_${model}_completions-$LANG_RUN.parquet" ;;
    train)
      "${WATCH[@]}" python3 scripts/train_grpo.py --params "$P" -q
      [ -f "$TRAIN_DIR/summary.json" ] || { echo "headline: train wrote no $TRAIN_DIR/summary.json" >&2; exit 1; }
      copy_train ;;
    bundle)
      # the run's results (training logs, evaluations; no pid files), the newest checkpoint's
      # trainer_state, and the adapter cast to bf16 (half the size; vLLM applies LoRA in bf16) —
      # from the finished run's adapter folder, else from the newest checkpoint
      B=$STAGE/bundle; rm -rf "$B" && mkdir -p "$B/results" "$B/adapter"
      cp -r "$RES" "$B/results/" && find "$B/results" -name '*.pid' -delete
      ck=$(newest_ck)
      ad=$STAGE/models/$RUN/adapter; [ -f "$ad/adapter_model.safetensors" ] || ad=$ck
      if [ -n "${BUNDLE_ADAPTER:-}" ]; then ad=$(adapter_arg "$BUNDLE_ADAPTER") || exit 1; fi   # e.g. best: the checkpoint validation chose
      [ -n "$ck" ] && cp "$ck/trainer_state.json" "$B/trainer_state.json"
      cp $STAGE/models/"$RUN"/checkpoints/FINGERPRINT "$B/" 2>/dev/null || true
      cp "$ad/adapter_config.json" "$B/adapter/"
      bf16_adapter "$ad/adapter_model.safetensors" "$B/adapter/adapter_model.safetensors"
      echo "headline: bundle of $RUN: adapter from $ad"
      tar -C "$B" -cf $STAGE/bundle-$LANG_RUN.tar .
      rm -rf $STAGE/bundle-pieces && mkdir -p $STAGE/bundle-pieces
      split -b 15M -d $STAGE/bundle-$LANG_RUN.tar $STAGE/bundle-pieces/part
      sha256sum < $STAGE/bundle-$LANG_RUN.tar | cut -d' ' -f1 > $STAGE/bundle-pieces/SHA256
      cp $STAGE/bundle-pieces/SHA256 "$OUT/bundle-$LANG_RUN.sha256"
      hand_out $STAGE/bundle-pieces "bundle-$LANG_RUN.tar" 0 3 BUNDLE_FROM bundle-more ;;
    bundle-more)
      # more pieces of the bundle the last `bundle` made (BUNDLE_FROM, 0-based): one call brings back 4
      [ -f $STAGE/bundle-pieces/SHA256 ] || { echo "headline: no bundle of $LANG_RUN made yet" >&2; exit 1; }
      cp $STAGE/bundle-pieces/SHA256 "$OUT/bundle-$LANG_RUN.sha256"
      bf=${BUNDLE_FROM:-4}; hand_out $STAGE/bundle-pieces "bundle-$LANG_RUN.tar" "$bf" $((bf + 3)) BUNDLE_FROM bundle-more ;;
    bench-vllm|bench-generate)
      v=true; steps=$BENCH_STEPS; [ "$phase" = bench-generate ] && { v=false; steps=${BENCH_STEPS_GENERATE:-6}; }
      "${WATCH[@]}" python3 scripts/bench_train.py --params "$P" -q --steps "$steps" --label "${phase#bench-}-$LANG_RUN" \
          --set grpo.use_vllm=$v --set max_wall_s=null --keep-adapter "$STAGE/models/bench-${phase#bench-}-$LANG_RUN/adapter"
      cp results/bench/train_gpu.json "$OUT/train_gpu.json" ;;
    protocols)
      # the base model under both protocols at the BigCode leaderboard's setting (n = 20, T = 0.2),
      # ≤ 768 new tokens (384 truncated 7-8% of base answers), held-out (chat) + HumanEval (both)
      { printf 'evaluate.samples:\n  - {name: t0.2, n: 20, temperature: 0.2, k: [1]}\n'
        printf 'evaluate.protocols: [chat, completion]\nevaluate.max_tokens: 768\n'; } > $STAGE/protocols.yaml
      cp "$P" $STAGE/params-protocols-$LANG_RUN.yaml
      python3 scripts/apply_config.py $STAGE/protocols.yaml --params $STAGE/params-protocols-$LANG_RUN.yaml
      pm=${PROTO_MODELS:-base}      # or trained (the run's adapter), or base,trained
      "${WATCH[@]}" python3 scripts/evaluate.py --params $STAGE/params-protocols-$LANG_RUN.yaml --models "$pm" \
          -o "$RES/eval_protocols-${pm/,/+}" -q
      copy_eval "$RES/eval_protocols-${pm/,/+}" "protocols-${pm/,/+}-$LANG_RUN" ;;
    train-bg)
      bg_alive "$RES/train.pid" && { echo "headline: training already running (pid $(cat "$RES/train.pid"))"; continue; }
      # what the run is made from (code, params, data, environment): bundled with the results,
      # checked here by `python scripts/manifest.py check` (a failure to write it does not stop the run)
      # (in the background: hashing the model folder, 3 GB at 1.5B, took ~70 s of a device call)
      bg_manifest "$RES/manifest-train.txt" --params "$P" --overlay configs/gpu-headline.yaml \
          --overlay "configs/gpu-headline-$LANG_RUN.yaml" --what train \
          --command "TRAIN_WALL_S=${TRAIN_WALL_S:-} headline.sh $LANG_RUN train-bg" -o "$RES/manifest-train.json"
      nohup setsid "${WATCH[@]}" python3 scripts/train_grpo.py --params "$P" -q \
          --set "max_wall_s=${TRAIN_WALL_S:-null}" >> "$RES/train.log" 2>&1 < /dev/null &
      echo $! > "$RES/train.pid"; echo "headline: training started in the background (pid $!, budget ${TRAIN_WALL_S:-none} s)" ;;
    eval-bg)
      # EVAL_MODELS: base, trained, base,trained … or all (every model of the evaluation config, e.g. a re-ask's)
      em=${EVAL_MODELS:-base}; tag=${EVAL_TAG:-eval_v2}-${em//,/+}
      bg_alive "$RES/$tag.pid" && { echo "headline: $tag already running"; continue; }
      cp "$P" "$STAGE/params-$LANG_RUN-$tag.yaml"
      # EVAL_CONFIG: one overlay or several (space-separated, applied in order: e.g. the 1.5B student's models)
      read -r -a ecfg <<< "${EVAL_CONFIG:-configs/gpu-eval-v2.yaml}"; eover=()
      for c in "${ecfg[@]}"; do
        python3 scripts/apply_config.py "$c" --params "$STAGE/params-$LANG_RUN-$tag.yaml"; eover+=(--overlay "$c")
      done
      printf 'machine.workers: %s\n' "${EVAL_WORKERS:-8}" > $STAGE/eval-workers.yaml
      # an adapter from elsewhere (e.g. the committed results/headline/RUN/adapter) instead of the run's own
      # (or `best`: the checkpoint with the best validation metric)
      # (an adapter that cannot be resolved stops here: never the base model evaluated as "trained")
      if [ -n "${TRAINED_ADAPTER:-}" ]; then
        ta=$(adapter_arg "$TRAINED_ADAPTER") || exit 1
        printf 'evaluate.models.trained.adapter: %s\n' "$ta" >> $STAGE/eval-workers.yaml
      fi
      python3 scripts/apply_config.py $STAGE/eval-workers.yaml --params "$STAGE/params-$LANG_RUN-$tag.yaml"
      if [ "$em" = all ]; then
        em=$(python3 -c "import sys, yaml; print(','.join(yaml.safe_load(open(sys.argv[1]))['evaluate']['models']))" \
             "$STAGE/params-$LANG_RUN-$tag.yaml")
        echo "headline: $tag evaluates $em"
      fi
      # beside a training (or another evaluation) the configured vLLM share may not be free: lower it to what
      # is (a 1.5B trainer left 29.8 GiB, the evaluation asked for 31.7 and died at start-up; r-1.5b)
      if command -v nvidia-smi > /dev/null; then
        python3 scripts/gpu/vllm_share.py "$STAGE/params-$LANG_RUN-$tag.yaml" --models "$em" -o $STAGE/eval-share.yaml || exit 1
        [ -s $STAGE/eval-share.yaml ] && python3 scripts/apply_config.py $STAGE/eval-share.yaml --params "$STAGE/params-$LANG_RUN-$tag.yaml"
      fi
      bg_manifest "$RES/manifest-$tag.txt" --params "$STAGE/params-$LANG_RUN-$tag.yaml" --overlay configs/gpu-headline.yaml \
          --overlay "configs/gpu-headline-$LANG_RUN.yaml" "${eover[@]}" --what "$tag" \
          --command "EVAL_MODELS=$em EVAL_TAG=${EVAL_TAG:-} EVAL_CONFIG='${EVAL_CONFIG:-}' TRAINED_ADAPTER=${TRAINED_ADAPTER:-} headline.sh $LANG_RUN eval-bg" \
          -o "$RES/manifest-$tag.json"
      nohup setsid "${WATCH[@]}" python3 scripts/evaluate.py --params "$STAGE/params-$LANG_RUN-$tag.yaml" \
          --models "$em" -o "$RES/$tag" -q >> "$RES/$tag.log" 2>&1 < /dev/null &
      echo $! > "$RES/$tag.pid"; echo "headline: $tag started in the background (pid $!)" ;;
    wait)
      deadline=$(( $(date +%s) + ${WAIT_S:-540} ))
      while :; do
        alive=""; for pf in "$RES"/*.pid; do [ -f "$pf" ] && bg_alive "$pf" && alive="$alive $(basename "$pf" .pid)"; done
        for lg in "$RES"/*.log; do
          [ -f "$lg" ] && echo "[$(date +%T)] $(basename "$lg"): $(tr '\r' '\n' < "$lg" | grep -E "it/s|s/it|'(eval_)?reward'|Error|error" | tail -1 | cut -c1-220)"
        done
        [ -z "$alive" ] && break
        left=$(( deadline - $(date +%s) ))
        [ "$left" -le 0 ] && { echo "headline: still running:$alive"; break; }
        sleep $(( left < 60 ? left : 60 ))     # never past WAIT_S: the copying below must fit in the call
      done
      # a machine's last call (FINISH_PARTIAL=1): an evaluation still running is stopped and finished from
      # what it completed (evaluate.py --from-partial: every suite × protocol done), since the machine
      # goes back after this call anyway; a training still running is left alone
      if [ "${FINISH_PARTIAL:-0}" = 1 ]; then
        for pf in "$RES"/*.pid; do
          tag=$(basename "$pf" .pid); [ "$tag" = train ] && continue
          bg_alive "$pf" || continue
          kill -- -"$(cat "$pf")" 2>/dev/null || kill "$(cat "$pf")"; sleep 3
          echo "headline: $tag stopped at WAIT_S; finishing it from what it completed"
          python3 scripts/evaluate.py --params "$STAGE/params-$LANG_RUN-$tag.yaml" -o "$RES/$tag" -q --from-partial \
            >> "$RES/$tag.log" 2>&1 || echo "headline: $tag had finished no suite"
        done
      fi
      ck=$(newest_ck)
      if [ "${WAIT_ADAPTER:-0}" = 1 ]; then
        # a lost machine takes its checkpoints with it (r-1.5b, twice): hand out the adapter of the checkpoint
        # validation chose (else the newest) each time it changes, as bf16 pieces, with that checkpoint's
        # trainer_state and the training log — at most 7 files, so nothing else is copied in this mode
        [ -n "$ck" ] && cp "$ck/trainer_state.json" "$OUT/trainer_state-$LANG_RUN.json"
        [ -f "$RES/train.log" ] && tail -c 200000 "$RES/train.log" > "$OUT/train-$LANG_RUN.log"
        hc=$(best_ck 2>/dev/null || true); [ -n "$hc" ] || hc=$ck
        if [ -n "$hc" ] && [ -f "$hc/adapter_model.safetensors" ] && [ ! -f "$STAGE/handed-$LANG_RUN-$(basename "$hc")" ]; then
          A=$STAGE/adapter-out; rm -rf "$A" && mkdir -p "$A"
          bf16_adapter "$hc/adapter_model.safetensors" "$A/adapter_model.safetensors"
          split -b 15M -d "$A/adapter_model.safetensors" "$A/part"
          n=$(basename "$hc")
          for f in "$A"/part*; do cp "$f" "$OUT/adapter-$LANG_RUN-$n.$(basename "$f")"; done
          sha256sum < "$A/adapter_model.safetensors" | cut -d' ' -f1 > "$OUT/adapter-$LANG_RUN-$n.sha256"
          cp "$hc/adapter_config.json" "$OUT/adapter-$LANG_RUN-$n.config.json"
          touch "$STAGE/handed-$LANG_RUN-$n"
          echo "headline: adapter of $n handed out ($(ls "$A"/part* | wc -l) piece(s), bf16): join with cat, check the sha256"
        fi
        continue
      fi
      copy_train       # and the newest checkpoint's trainer_state: the log so far of a part still running
      [ -n "$ck" ] && cp "$ck/trainer_state.json" "$OUT/trainer_state-$LANG_RUN.json" || true
      for d in "$RES"/*-base* "$RES"/*-trained* "$RES"/reask-*; do [ -f "$d/metrics.json" ] && copy_eval "$d" "$LANG_RUN-$(basename "$d")"; done
      for lg in "$RES"/*.log; do b=$(basename "$lg" .log); [ -f "$lg" ] && tail -c 200000 "$lg" > "$OUT/${b//+/_}-$LANG_RUN.log"; done ;;
    pack)
      # one file, whatever the run holds (a machine's last call: 7 files of WAIT_ADAPTER + this one fit $OUT)
      tar -C "$STAGE/results" --exclude='*.pid' -czf "$OUT/results-$LANG_RUN.tgz" "$LANG_RUN"
      echo "headline: $RES packed ($(du -h "$OUT/results-$LANG_RUN.tgz" | cut -f1)): results-$LANG_RUN.tgz" ;;
    state)
      # STATE_FROM=0 packs the newest checkpoint; a later call (STATE_FROM > 0) hands out more pieces of
      # that same pack (re-packing then would mix two checkpoints if training saved one in between)
      sf=${STATE_FROM:-0}; st=${STATE_TO:-$((sf + 3))}    # 4 pieces of 15 MiB: what one call brings back (64 MiB)
      if [ "$sf" -eq 0 ] || [ ! -f $STAGE/state/SHA256SUMS ]; then
        ck=$(newest_ck); [ -n "$ck" ] || { echo "headline: $RUN has no checkpoint yet" >&2; exit 1; }
        rm -rf $STAGE/state && mkdir -p $STAGE/state
        tar -C $STAGE -cf - "models/$RUN/checkpoints/FINGERPRINT" "${ck#$STAGE/}" "${TRAIN_DIR#$STAGE/}" \
            $( [ -d "$STAGE/models/$RUN/adapter" ] && echo "models/$RUN/adapter" ) \
          | split -b 15M -d - $STAGE/state/part
        (cd $STAGE/state && sha256sum part* > SHA256SUMS)
        basename "$ck" > $STAGE/state/CHECKPOINT
      fi
      echo "headline: state of $RUN at $(cat $STAGE/state/CHECKPOINT): $(ls $STAGE/state/part* | wc -l) piece(s)"
      cp $STAGE/state/SHA256SUMS "$OUT/state-$LANG_RUN.SHA256SUMS"
      hand_out $STAGE/state "state-$LANG_RUN" "$sf" "$st" STATE_FROM state ;;
    restore-state)
      mkdir -p $STAGE/state-in
      for f in .gpu/state*/part* .gpu/state*/SHA256SUMS; do [ -e "$f" ] && cp -f "$f" $STAGE/state-in/; done
      want=$(wc -l < $STAGE/state-in/SHA256SUMS)
      have=$(cd $STAGE/state-in && for f in $(awk '{print $2}' SHA256SUMS); do if [ -f "$f" ]; then echo "$f"; fi; done | wc -l)
      if [ "$have" -lt "$want" ]; then echo "headline: $have of $want state piece(s) so far"; continue; fi
      (cd $STAGE/state-in && sha256sum -c --quiet SHA256SUMS)
      (cd $STAGE/state-in && cat $(awk '{print $2}' SHA256SUMS)) | tar -C $STAGE -xf -    # the listed pieces, in order
      echo "headline: restored $(ls -d $STAGE/models/"$RUN"/checkpoints/checkpoint-*)" ;;
    bench-unsloth|bench-unsloth-vllm)
      # Unsloth (FastLanguageModel + its LoRA): generation by Unsloth's own generate, or with
      # fast_inference by Unsloth's vLLM engine (same memory share as TRL's colocated engine)
      fi=false; [ "$phase" = bench-unsloth-vllm ] && fi=true
      "${WATCH[@]}" python3 scripts/bench_train.py --params "$P" -q --steps "${BENCH_STEPS_UNSLOTH:-$BENCH_STEPS}" \
          --label "${phase#bench-}-$LANG_RUN" --set framework=unsloth --set unsloth.fast_inference=$fi \
          --set grpo.use_vllm=$fi --set unsloth.gpu_memory_utilization=0.3 --set max_wall_s=null
      cp results/bench/train_gpu.json "$OUT/train_gpu.json" ;;
    bench-eval)
      # n = 20 at T = 0.2; the trained model is the adapter of the last bench-vllm run (a few steps:
      # this measures the LoRA path's speed, not a training result)
      ad=$STAGE/models/bench-vllm-$LANG_RUN/adapter; models=base; [ -f "$ad/adapter_config.json" ] && models=base,trained
      { printf 'evaluate.samples:\n  - {name: t0.2, n: 20, temperature: 0.2, k: [1]}\n'
        printf 'evaluate.models.trained.adapter: %s\n' "$ad"; } > $STAGE/bench-eval.yaml
      cp "$P" $STAGE/params-bench-eval.yaml
      python3 scripts/apply_config.py $STAGE/bench-eval.yaml --params $STAGE/params-bench-eval.yaml
      "${WATCH[@]}" python3 scripts/bench_eval.py --params $STAGE/params-bench-eval.yaml -q --label "vllm-$LANG_RUN" \
          --models "$models" --out-dir "$RES/bench_eval"
      cp results/bench/eval_gpu.json "$OUT/eval_gpu.json" ;;
    *) echo "unknown phase $phase (smoke|baseline|train|final|bundle|bench-vllm|bench-generate|bench-unsloth|bench-unsloth-vllm|bench-eval|protocols|train-bg|eval-bg|wait|pack|state|restore-state|bundle-more)" >&2; exit 2 ;;
  esac
  echo "headline: $LANG_RUN $phase took $(( $(date +%s) - t0 )) s"
done
