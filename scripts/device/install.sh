#!/usr/bin/env bash
# On the GPU machine (Ubuntu 24.04, no network): put the pieces from scripts/device/stage.sh in place.
#   bash scripts/device/install.sh base      R + bubblewrap ($R_ROOT), data
#   bash scripts/device/install.sh site      the carried piece(s) of the GPU stack (requirements/device.lock);
#                                         unpacked to $SITE when complete, then checked (versions, imports)
#   bash scripts/device/install.sh julia     the carried Julia piece(s); unpacked where the profile's machine.julia_bin says
#   bash scripts/device/install.sh model     the carried model piece(s); assembled when complete, then converted
#                                         to a transformers directory in the background (MODEL_PIECES: the
#                                         carried folder, .gpu/model; e.g. .gpu/model-1.5b for the 1.5B student)
#   bash scripts/device/install.sh model-wait  wait for that conversion (same MODEL_PIECES)
#   Each carried folder has its own pieces, log and conversion on the device ($STAGE/model-pieces/<folder>),
#   so two students (.gpu/model and .gpu/model-1.5b) can be staged on one machine, one after the other.
#   bash scripts/device/install.sh adapters  the carried .gpu/reask-adapters/<model>/ folders (scripts/reask.py stage) to
#                                         $STAGE/reask-adapters/<model>/, where the re-ask configs look for them
#   bash scripts/device/install.sh unsloth   Unsloth (requirements/device-unsloth.lock) to $SITE_UNSLOTH
# Idempotent; everything lands outside the working tree (/opt, $STAGE), so it survives
# between calls while the machine stays warm. Pieces are sha256-checked.
set -euo pipefail
. "$(dirname "$0")/profile.sh"        # STAGE, SITE, R_ROOT, … (configs/profiles/device.yaml)
mkdir -p "$STAGE"

# collect SRC DEST: copy the pieces carried in this call; succeed (0) once all listed pieces are there
collect() {
  local src=$1 dest=$2 f
  mkdir -p "$dest"
  for f in "$src"/part* "$src"/SHA256SUMS "$src"/WHOLE.sha256 "$src"/NAME; do
    [ -e "$f" ] || continue
    cp -f "$f" "$dest/"
    case "$f" in */part*) echo "install: got $(basename "$src")/$(basename "$f")" ;; esac
  done
  [ -f "$dest/SHA256SUMS" ] || { echo "install: SHA256SUMS of $src not carried yet"; return 1; }
  local want have
  want=$(wc -l < "$dest/SHA256SUMS"); have=$(ls "$dest"/part* 2>/dev/null | wc -l)
  if [ "$have" -lt "$want" ]; then echo "install: $have of $want piece(s) of $src so far"; return 1; fi
  (cd "$dest" && sha256sum -c --quiet SHA256SUMS) || { echo "install: a piece of $src is corrupt" >&2; exit 1; }
}

# the model folder this call carries (MODEL_PIECES) and where its pieces gather on the device (model, model-wait)
mtag=$(basename "${MODEL_PIECES:-.gpu/model}"); mp=$STAGE/model-pieces/$mtag

case "${1:-base}" in
base)
  if [ ! -x $R_ROOT/usr/lib/R/bin/exec/R ] && [ -f .gpu/r.tar.xz ]; then
    mkdir -p $R_ROOT && tar -C $R_ROOT -xJf .gpu/r.tar.xz
    # Rscript has /usr/lib/R compiled in; nothing of R exists on the device, so links are safe
    for p in /usr/lib/R /usr/share/R /etc/R; do [ -e "$p" ] || ln -s "$R_ROOT$p" "$p"; done
    # Debian writes /etc/R/Renviron in r-base-core's postinst, which dpkg -x does not run
    [ -f $R_ROOT/etc/R/Renviron ] || cp $R_ROOT/usr/lib/R/etc/Renviron.ucf $R_ROOT/etc/R/Renviron
    ln -sf $R_ROOT/usr/bin/Rscript /usr/local/bin/Rscript
  fi
  # bubblewrap for the Julia machine too (scripts/device/stage.sh keeps a copy beside the R archive)
  [ -x /usr/local/bin/bwrap ] || { [ -x $R_ROOT/usr/bin/bwrap ] && ln -sf $R_ROOT/usr/bin/bwrap /usr/local/bin/bwrap; } \
    || { [ -f .gpu/bwrap.tar.xz ] && mkdir -p $R_ROOT && tar -C $R_ROOT -xJf .gpu/bwrap.tar.xz \
         && ln -sf $R_ROOT/usr/bin/bwrap /usr/local/bin/bwrap; } || true
  # the shared data the profile's machine.shared_dir names (MultiPL-E: what evaluate reads of ../shared)
  if [ -d .gpu/shared ]; then mkdir -p "$STAGE/shared" && cp -rf .gpu/shared/. "$STAGE/shared/"; fi
  if [ -x $R_ROOT/usr/lib/R/bin/exec/R ]; then echo "install: R $(LD_LIBRARY_PATH=$R_LD_LIBRARY_PATH Rscript -e 'cat(as.character(getRversion()), as.character(packageVersion("testthat")))' 2>&1 | tail -1)"; fi
  ;;
adapters)
  # each call carries a few (≤ 64 MiB with the tree); they gather on the device call after call
  found=0
  for d in .gpu/reask-adapters/*/; do
    [ -f "$d/adapter_config.json" ] && [ -f "$d/adapter_model.safetensors" ] || continue
    mkdir -p "$STAGE/reask-adapters/$(basename "$d")"
    cp -f "$d"/adapter_config.json "$d"/adapter_model.safetensors "$STAGE/reask-adapters/$(basename "$d")/"
    found=$((found + 1))
  done
  echo "install: $found adapter(s) carried; on the device: $(ls "$STAGE/reask-adapters" 2>/dev/null | tr '\n' ' ')"
  ;;
julia)
  # where the profile's machine.julia_bin says Julia is: the carried prefix (julia-1.5.3/) is unpacked beside it
  JL=$(PYTHONPATH="$_rl_root/src" "${PYTHON:-python3}" -c "import sys; from rarelang.experiments import Profile; print(Profile.load(sys.argv[1]).machine.get('julia_bin') or '')" "${DEVICE_PROFILE:-device}")
  JP=${JL%/usr/bin/julia}
  [ "$(basename "$JP")" = julia-1.5.3 ] || { echo "install: machine.julia_bin must end in julia-1.5.3/usr/bin/julia (the carried prefix), not $JL" >&2; exit 1; }
  if [ ! -x "$JL" ] && collect .gpu/julia "$STAGE/julia-pieces"; then
    mkdir -p "$(dirname "$JP")"
    cat "$STAGE"/julia-pieces/part* | xz -d | tar -C "$(dirname "$JP")" -xf -
    rm -rf "$STAGE/julia-pieces"
  fi
  if [ -x "$JL" ]; then
    # a failing @test must be recorded, not segfault (the libunwind pitfall; see install_julia.sh)
    "$JL" --startup-file=no -e 'using Test; ts = Test.DefaultTestSet("t"); Test.push_testset(ts); @test 1 == 2; Test.pop_testset(); println("install: Julia ", VERSION, ", failing @test recorded: ", ts.n_passed, "/", length(ts.results))'
  fi
  ;;
site)
  if [ ! -f $SITE/RARELANG_SITE.txt ] && collect .gpu/site "$STAGE/site-pieces"; then
    [ "$(cat "$STAGE"/site-pieces/part* | sha256sum | cut -d' ' -f1)" = "$(cat "$STAGE/site-pieces/WHOLE.sha256")" ] \
      || { echo "install: GPU stack sha256 mismatch" >&2; exit 1; }
    rm -rf $SITE.partial && mkdir -p $SITE.partial
    cat "$STAGE"/site-pieces/part* | xz -d -T0 | tar -C $SITE.partial -xf -
    rm -rf $SITE && mv $SITE.partial $SITE && rm -rf "$STAGE/site-pieces"
  fi
  if [ -f $SITE/RARELANG_SITE.txt ]; then
    . scripts/device/env.sh
    python3 scripts/device/check_stack.py --lock requirements/device.lock --json "$STAGE/stack.json"
  fi
  ;;
unsloth)
  # requirements/device-unsloth.lock: the installed tree, then each `if-missing` wheel only when the
  # machine cannot import its module (pip --no-deps --no-index, into the same tree)
  if [ ! -f $SITE_UNSLOTH/site/RARELANG_SITE.txt ] && collect .gpu/unsloth "$STAGE/unsloth-pieces"; then
    [ "$(cat "$STAGE"/unsloth-pieces/part* | sha256sum | cut -d' ' -f1)" = "$(cat "$STAGE/unsloth-pieces/WHOLE.sha256")" ] \
      || { echo "install: Unsloth sha256 mismatch" >&2; exit 1; }
    rm -rf $SITE_UNSLOTH && mkdir -p $SITE_UNSLOTH
    cat "$STAGE"/unsloth-pieces/part* | xz -d -T0 | tar -C $SITE_UNSLOTH -xf -
    . scripts/device/env.sh
    while read -r mod whl; do
      if python3 -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('$mod') else 1)" 2>/dev/null; then
        echo "install: $mod provided by the machine"
      else
        python3 -m pip install -q --no-deps --no-index --target $SITE_UNSLOTH/site "$SITE_UNSLOTH/fallback/$whl" \
          && echo "install: $mod missing, installed $whl"
      fi
    done < $SITE_UNSLOTH/fallback/IF_MISSING.txt
  fi
  if [ -f $SITE_UNSLOTH/site/RARELANG_SITE.txt ]; then
    . scripts/device/env.sh
    python3 scripts/device/check_stack.py --lock requirements/device-unsloth.lock --imports unsloth --json "$STAGE/stack-unsloth.json" \
      || echo "install: the Unsloth stack check failed (above); train.framework: unsloth will not work" >&2
  fi
  ;;
model)
  if collect "${MODEL_PIECES:-.gpu/model}" "$mp"; then
    name=$(cat "$mp/NAME")
    mkdir -p "$STAGE/models/gguf"
    if [ ! -f "$STAGE/models/gguf/$name" ]; then
      cat "$mp"/part* > "$STAGE/models/gguf/$name.partial"
      [ "$(sha256sum < "$STAGE/models/gguf/$name.partial" | cut -d' ' -f1)" = "$(cat "$mp/WHOLE.sha256")" ] \
        || { echo "install: model sha256 mismatch" >&2; exit 1; }
      mv "$STAGE/models/gguf/$name.partial" "$STAGE/models/gguf/$name"
    fi
    echo "install: model $name assembled, sha256 ok"
    # the transformers directory that training and vLLM load (dequantized once, ~1 minute; runs on in
    # the background so staging goes on: `install.sh model-wait` waits for it). Needs the site (gguf).
    hf="$STAGE/models/hf/${name%.gguf}"
    if [ ! -f $SITE/RARELANG_SITE.txt ]; then
      # the conversion needs the site's gguf package: started later by `install.sh model-wait`
      echo "install: the GPU stack (install.sh site) is not complete yet; the conversion waits for it"
    elif [ ! -f "$hf/config.json" ] && ! { [ -f "$STAGE/convert-$mtag.pid" ] && kill -0 "$(cat "$STAGE/convert-$mtag.pid")" 2>/dev/null; }; then
      # not converted and no conversion running (a failed one is started again)
      . scripts/device/env.sh
      setsid nohup python3 -c "import sys; from pathlib import Path; from rarelang.models.hf import gguf_to_hf; gguf_to_hf(Path(sys.argv[1]), Path(sys.argv[2]))" \
        "$STAGE/models/gguf/$name" "$hf" > "$STAGE/convert-$mtag.log" 2>&1 < /dev/null &
      echo $! > "$STAGE/convert-$mtag.pid"
      echo "install: converting to $hf in the background (log: $STAGE/convert-$mtag.log)"
    fi
  fi
  ;;
model-wait)
  [ -f "$mp/NAME" ] || { echo "install: no pieces of ${MODEL_PIECES:-.gpu/model} carried yet (install.sh model)" >&2; exit 1; }
  name=$(cat "$mp/NAME"); hf="$STAGE/models/hf/${name%.gguf}"
  # the conversion did not start (the site came after the model) or failed: start it now
  [ -f "$hf/config.json" ] || bash "$0" model
  while [ ! -f "$hf/config.json" ] && [ -f "$STAGE/convert-$mtag.pid" ] && kill -0 "$(cat "$STAGE/convert-$mtag.pid")" 2>/dev/null; do sleep 2; done
  [ -f "$hf/config.json" ] || { echo "install: conversion failed:" >&2; tail -20 "$STAGE/convert-$mtag.log" >&2; exit 1; }
  echo "install: model directory $hf ready"
  ;;
*) echo "usage: $0 base|site|julia|model|model-wait|unsloth" >&2; exit 2 ;;
esac
