#!/usr/bin/env bash
# On the GPU machine (Ubuntu 24.04, no network): put the pieces from scripts/gpu/stage.sh in place.
#   bash scripts/gpu/install.sh base      R + bubblewrap (/opt/rdeb), wheels (/root/site), data
#   bash scripts/gpu/install.sh model     append the carried model piece(s); assemble when complete
# Idempotent; everything lands outside the working tree (/opt/rdeb, /root/stage), so it survives
# between calls while the machine stays warm.
set -euo pipefail
STAGE=/root/stage
mkdir -p "$STAGE"
case "${1:-base}" in
base)
  if [ ! -x /opt/rdeb/usr/lib/R/bin/exec/R ]; then
    mkdir -p /opt/rdeb && tar -C /opt/rdeb -xJf .gpu/r.tar.xz
    # Rscript has /usr/lib/R compiled in; nothing of R exists on the device, so links are safe
    for p in /usr/lib/R /usr/share/R /etc/R; do [ -e "$p" ] || ln -s "/opt/rdeb$p" "$p"; done
    # Debian writes /etc/R/Renviron in r-base-core's postinst, which dpkg -x does not run
    [ -f /opt/rdeb/etc/R/Renviron ] || cp /opt/rdeb/usr/lib/R/etc/Renviron.ucf /opt/rdeb/etc/R/Renviron
    ln -sf /opt/rdeb/usr/bin/Rscript /usr/local/bin/Rscript
    ln -sf /opt/rdeb/usr/bin/bwrap /usr/local/bin/bwrap
  fi
  if [ ! -d /root/site/trl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /root/site .gpu/wheels/*.whl
  fi
  cp -f .gpu/data/* "$STAGE"/ 2>/dev/null || true
  echo "install: R $(LD_LIBRARY_PATH=$(cat scripts/gpu/ld_library_path) Rscript -e 'cat(as.character(getRversion()), as.character(packageVersion("testthat")))' 2>&1 | tail -1)"
  ;;
model)
  for f in .gpu/model/part*; do
    [ -e "$f" ] || continue
    cp -f "$f" "$STAGE/$(basename "$f")"
    echo "install: got $(basename "$f")"
  done
  cp -f .gpu/model/SHA256SUMS .gpu/model/WHOLE.sha256 .gpu/model/NAME "$STAGE/" 2>/dev/null || true
  if [ -f "$STAGE/SHA256SUMS" ] && (cd "$STAGE" && sha256sum -c --quiet SHA256SUMS 2>/dev/null); then
    name=$(cat "$STAGE/NAME")
    mkdir -p "$STAGE/models/gguf"
    cat "$STAGE"/part* > "$STAGE/models/gguf/$name"
    [ "$(sha256sum < "$STAGE/models/gguf/$name" | cut -d' ' -f1)" = "$(cat "$STAGE/WHOLE.sha256")" ] \
      && echo "install: model assembled, sha256 ok" || { echo "install: model sha256 mismatch" >&2; exit 1; }
  else
    echo "install: $(ls "$STAGE"/part* 2>/dev/null | wc -l) piece(s) so far"
  fi
  ;;
esac
