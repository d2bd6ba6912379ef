#!/usr/bin/env bash
# Build what the GPU machine lacks into .gpu/ (git-ignored; each piece travels with `carry`):
#   .gpu/r.tar.xz       R 4.2 + testthat + jsonlite and the libraries they need, plus bubblewrap,
#                       from Debian bookworm, unpacked (dpkg -x) under the device profile's R_ROOT
#   .gpu/julia/partNN   Julia 1.5.3 (the prefix `make setup` installs) with every library it loads
#                       from the system, xz-compressed in ≤ PIECE_MB MiB pieces + SHA256SUMS
#   .gpu/bwrap.tar.xz   bubblewrap alone (a machine that runs only Julia)
#   .gpu/shared/        the shared data evaluate reads (MultiPL-E HumanEval/MBPP R/Julia), for the device profile's
#                       machine.shared_dir; the training data is carried as the DVC output it is (data/seed-v2/processed)
#   .gpu/site/partNN    the GPU stack of requirements/device.lock (vLLM, TRL, datasets, …) installed
#                       for Python 3.12, slimmed, xz-compressed in ≤ PIECE_MB MiB pieces + SHA256SUMS
#   .gpu/unsloth/partNN Unsloth (requirements/device-unsloth.lock) for train.framework: unsloth
#   .gpu/model/partNN   the student GGUF in ≤ PIECE_MB MiB pieces + SHA256SUMS (MODEL: another packaged
#                       student, MODEL_DIR: its folder, e.g. MODEL=qwen2.5-coder-1.5b-instruct MODEL_DIR=.gpu/model-1.5b;
#                       carried with MODEL_PIECES=that folder for install.sh)
# On the device, scripts/device/install.sh puts them in place (see docs/GPU.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.gpu
# A device call carries 64 MiB including the working tree (every tracked file: committed results and
# adapters count), so pieces are what is left of 60 MiB after the tree; PIECE_MB overrides.
# (files absent on disk, e.g. under slim.sh, do not count and are not an error)
TREE_MB=$(( ($( (git ls-files -z | xargs -0 du -cb 2>/dev/null || true) | tail -1 | cut -f1) + 1048575) / 1048576 ))
PIECE_MB=${PIECE_MB:-$(( 60 - TREE_MB ))}
[ "$PIECE_MB" -ge 8 ] || { echo "stage: the working tree is $TREE_MB MiB: too little room for pieces (PIECE_MB=$PIECE_MB)" >&2; exit 1; }
echo "stage: working tree $TREE_MB MiB → pieces of $PIECE_MB MiB"
MODEL="${MODEL:-qwen2.5-coder-0.5b-instruct}"
MD="${MODEL_DIR:-$OUT/model}"
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
mkdir -p "$MD"

# --- R and bubblewrap from bookworm ----------------------------------------------------------
if [ ! -f "$OUT/r.tar.xz" ]; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  # the device (Ubuntu 24.04) has newer copies of the base libraries: take only what R needs
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances --no-pre-depends r-base-core r-cran-testthat r-cran-jsonlite bubblewrap \
    | grep -v '^[ <]' | sort -u \
    | grep -vE '^(libc6|libc-bin|libgcc-s1|libstdc\+\+6|gcc-12-base|dpkg|debconf.*|perl.*|libperl.*|tar|coreutils|bash|dash|sed|grep|findutils|sensible-utils|ucf|base-files|debianutils|init-system-helpers|libselinux1|zlib1g|libcrypt1|libzstd1|liblzma5|libbz2-1.0|libpcre2-8-0|libtinfo6|libgmp10|libacl1|libattr1|mawk|xdg-utils|tzdata|readline-common|libdb5.3|libgdbm.*|netbase|ca-certificates|openssl|libssl3|libsystemd0|libudev1|libcap2|libmd0|libbsd0|libaudit.*|libcap-ng0|libsemanage.*|libsepol2|passwd|login|adduser|libpam.*|lsb-base|util-linux.*|libblkid1|libmount1|libsmartcols1|libuuid1|procps|libprocps8|libncursesw6|ncurses-.*|awk|x11-common|libfontconfig1|fontconfig.*|fonts-.*|libx11-data|install-info|shared-mime-info|xdg-user-dirs|dbus.*|libdbus-1-3|libexpat1|libffi8|libglib2.0-.*|libatlas3-base|libblis4-.*|libopenblas0-.*|cdebconf|libdebian-installer4|libnewt0.52|libslang2|libtextwrap1|sysvinit-utils|ttf-bitstream-vera|xfonts-.*|libpaper.*|libfontenc1|libtcl8.6|libtk8.6|libx.*|libice6|libsm6|libcairo2|libpango.*|libharfbuzz0b|libfreetype6|libgraphite2-3|libpixman-1-0|libthai.*|libdatrie1|libfribidi0|libxft2|libwebp7|libtiff6|libjbig0|liblerc4|libdeflate0|libjpeg62-turbo|libpng16-16|unzip|zip)$' \
    > "$work/pkgs"
  (cd "$work" && apt-get download $(cat pkgs) >/dev/null 2>&1)
  mkdir -p "$work/root"
  for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
  # documentation, translations and help pages are not needed to run tests
  rm -rf "$work"/root/usr/share/{doc,man,info,locale,lintian} "$work"/root/usr/share/R/doc
  find "$work/root/usr/lib/R" -mindepth 3 -maxdepth 3 -type d \( -name doc -o -name html -o -name help \
      -o -name po -o -name tests -o -name demo -o -name examples \) -prune -exec rm -rf {} +
  tar -C "$work/root" -cJf "$OUT/r.tar.xz" .
  echo "stage: $(wc -l < "$work/pkgs") Debian packages → $OUT/r.tar.xz ($(du -h "$OUT/r.tar.xz" | cut -f1))"
fi

# bubblewrap alone, for a machine that runs only Julia
if [ ! -f "$OUT/bwrap.tar.xz" ]; then
  bw=$(mktemp -d); tar -C "$bw" -xJf "$OUT/r.tar.xz" ./usr/bin/bwrap && tar -C "$bw" -cJf "$OUT/bwrap.tar.xz" ./usr/bin/bwrap
  rm -rf "$bw"
fi

# --- Julia 1.5.3, self-contained --------------------------------------------------------------
JP="${JULIA_PREFIX:-/opt/julia-1.5.3}"
if [ ! -f "$OUT/julia/SHA256SUMS" ]; then
  [ -x "$JP/usr/bin/julia" ] || bash scripts/setup/install_julia.sh "$JP"
  jwork=$(mktemp -d)
  cp -a "$JP" "$jwork/julia-1.5.3"
  L="$jwork/julia-1.5.3/usr/lib/x86_64-linux-gnu"
  # links from the private dir into bookworm's /usr/lib become links to copies beside them
  find "$L/julia" -type l -lname '/*' | while read -r link; do
    target=$(readlink "$link"); cp -L "$target" "$L/$(basename "$target")"
    patchelf --set-rpath '$ORIGIN' "$L/$(basename "$target")"
    ln -sfn "../$(basename "$target")" "$link"
  done
  # and every other library the prefix loads from the system, except glibc and the C++ runtime
  # (the device's are newer); copies get RUNPATH $ORIGIN so they find each other
  for f in "$L"/*.so* "$L"/julia/*.so* "$jwork/julia-1.5.3/usr/bin/julia"; do ldd "$f" 2>/dev/null || true; done \
    | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u \
    | grep -vE '^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux-x86-64|libgcc_s|libstdc\+\+)\.so' \
    | while read -r name path; do
        case "$path" in "$jwork"/*) continue ;; esac
        [ -e "$L/$name" ] || { cp -L "$path" "$L/$name"; patchelf --set-rpath '$ORIGIN' "$L/$name"; }
      done
  # check: no real file in the prefix loads anything from the system but glibc and the C++ runtime
  left=$(find "$L" "$jwork/julia-1.5.3/usr/bin" -type f -name '*.so*' -o -type f -name julia | grep -v '/sys.so$' \
         | xargs -n1 ldd 2>/dev/null | awk '$2 == "=>" {print $1, $3}' | grep -v " $jwork/" \
         | grep -vE '^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux-x86-64|libgcc_s|libstdc\+\+)\.so' | sort -u || true)
  [ -z "$left" ] || { echo "stage: the Julia prefix still loads from the system:" >&2; echo "$left" >&2; exit 1; }
  rm -rf "$jwork"/julia-1.5.3/usr/share/{doc,man,info} "$L"/julia/lib{ccall,llvmcall}test.so
  mkdir -p "$OUT/julia"
  tar -C "$jwork" -cf - julia-1.5.3 | xz -T0 -9 > "$jwork/julia.tar.xz"
  split -b "${PIECE_MB}M" -d "$jwork/julia.tar.xz" "$OUT/julia/part"
  (cd "$OUT/julia" && sha256sum part* > SHA256SUMS)
  echo "stage: Julia prefix → $(ls "$OUT"/julia/part* | wc -l) piece(s), $(du -h "$jwork/julia.tar.xz" | cut -f1)"
  rm -rf "$jwork"
fi

# --- the shared data evaluate reads (MultiPL-E; machine.shared_dir on the device) ----------------------
# (the training data is a DVC output, data/seed-v2/processed: carried as it is, `rarelang data seed-v2` makes it)
mdir=$(.venv/bin/python -c "import yaml; print(yaml.safe_load(open('params.yaml'))['machine']['shared_dir'])")/multipl-e
mkdir -p "$OUT/shared/multipl-e" && cp "$mdir"/*.jsonl "$OUT/shared/multipl-e/"

# what an installed tree holds (name==version per dist-info), for install.sh's check on the device
site_listing() {
  (cd "$1" && for d in *.dist-info; do sed -n 's/^Name: //p; s/^Version: //p' "$d/METADATA" | paste -sd'=' | sed 's/=/==/'; done) \
    | sort -f > "$1/RARELANG_SITE.txt"
}
# pack_pieces TREE DEST LOCK: TREE as xz in ≤ PIECE_MB MiB pieces + SHA256SUMS, WHOLE.sha256, LOCK.sha256 in DEST
pack_pieces() {
  local tmp; tmp=$(mktemp)
  rm -rf "$2" && mkdir -p "$2"
  tar -C "$1" -cf - . | xz -T0 -6 > "$tmp"
  split -b "${PIECE_MB}M" -d "$tmp" "$2/part"
  (cd "$2" && sha256sum part* > SHA256SUMS) && sha256sum < "$tmp" | cut -d' ' -f1 > "$2/WHOLE.sha256"
  sha256sum < "$3" | cut -d' ' -f1 > "$2/LOCK.sha256"
  rm -f "$tmp"
}

# --- the GPU stack: requirements/device.lock, installed for the device's Python 3.12 -------------
# pip download --require-hashes (every file checked against the lock), pip install --target for
# cp312/manylinux, then vLLM loses what Hopper never loads; the tree is packed into ≤ PIECE_MB MiB xz pieces.
PLAT=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_31_x86_64
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
if [ ! -f "$OUT/site/SHA256SUMS" ] || [ "$(cat "$OUT/site/LOCK.sha256" 2>/dev/null)" != "$(sha256sum < requirements/device.lock | cut -d' ' -f1)" ]; then
  swork=$(mktemp -d)
  python3 -m pip download -q --no-deps --require-hashes "${PLAT[@]}" -d "$swork/wheels" -r requirements/device.lock 2>&1 | grep -v WARNING || true
  python3 -m pip install -q --no-deps --no-compile "${PLAT[@]}" --target "$swork/site" "$swork"/wheels/*.whl 2>&1 | grep -v WARNING || true
  V="$swork/site/vllm"
  [ -d "$V" ] || { echo "stage: vllm did not install into $swork/site" >&2; exit 1; }
  before=$(du -sm "$swork/site" | cut -f1)
  rm -f "$V/vllm_flash_attn/_vllm_fa2_C.abi3.so" "$V/_moe_C_stable_libtorch.abi3.so" "$V/vllm-rs" "$swork/site/bin/vllm-rs"
  find "$V/third_party" -name '_C.cpython-3*-x86_64-linux-gnu.so' ! -name '_C.cpython-312-*' -delete 2>/dev/null || true
  rm -rf "$V/third_party/fmha_sm100" "$V/third_party/deep_gemm/include"
  find "$swork/site" -name '__pycache__' -prune -exec rm -rf {} +
  # what the tree holds, for install.sh's check on the device
  site_listing "$swork/site"
  pack_pieces "$swork/site" "$OUT/site" requirements/device.lock
  echo "stage: GPU stack ($(wc -l < "$swork/site/RARELANG_SITE.txt") packages, ${before} MB → $(du -sm "$swork/site" | cut -f1) MB) → $(ls "$OUT"/site/part* | wc -l) piece(s), $(cat "$OUT"/site/part* | wc -c | numfmt --to=iec)"
  rm -rf "$swork"
fi

# --- Unsloth (requirements/device-unsloth.lock): an installed tree + wheels installed only if missing
if [ ! -f "$OUT/unsloth/SHA256SUMS" ] || [ "$(cat "$OUT/unsloth/LOCK.sha256" 2>/dev/null)" != "$(sha256sum < requirements/device-unsloth.lock | cut -d' ' -f1)" ]; then
  uwork=$(mktemp -d)
  python3 -m pip download -q --no-deps --require-hashes "${PLAT[@]}" -d "$uwork/wheels" -r requirements/device-unsloth.lock 2>&1 | grep -v WARNING || true
  mkdir -p "$uwork/tree/fallback"
  grep -E '^[A-Za-z0-9_.-]+==.*# if-missing: ' requirements/device-unsloth.lock | while read -r spec _ _ _ mod; do
    dist=${spec%%==*}; ver=${spec#*==}
    w=$(ls "$uwork"/wheels/*.whl | grep -i "/$(echo "$dist" | tr '-' '_')-$ver-" | head -1)
    [ -n "$w" ] || { echo "stage: no wheel for $spec" >&2; exit 1; }
    mv "$w" "$uwork/tree/fallback/" && echo "$mod $(basename "$w")" >> "$uwork/tree/fallback/IF_MISSING.txt"
  done
  python3 -m pip install -q --no-deps --no-compile "${PLAT[@]}" --target "$uwork/tree/site" "$uwork"/wheels/*.whl 2>&1 | grep -v WARNING || true
  S="$uwork/tree/site"
  [ -d "$S/unsloth" ] || { echo "stage: unsloth did not install into $S" >&2; exit 1; }
  rm -rf "$S/studio" "$S/bin"   # (unsloth_zoo.mlx stays: unsloth imports it on every platform)
  find "$S/bitsandbytes" -name 'libbitsandbytes_*.so' ! -name 'libbitsandbytes_cuda130.so' ! -name 'libbitsandbytes_cpu.so' -delete
  find "$S" -name '__pycache__' -prune -exec rm -rf {} +
  site_listing "$S"
  pack_pieces "$uwork/tree" "$OUT/unsloth" requirements/device-unsloth.lock
  echo "stage: Unsloth ($(wc -l < "$S/RARELANG_SITE.txt") packages + $(wc -l < "$uwork/tree/fallback/IF_MISSING.txt") if missing) → $(cat "$OUT"/unsloth/part* | wc -c | numfmt --to=iec)"
  rm -rf "$uwork"
fi

# --- the student model in pieces ---------------------------------------------------------------------
if [ ! -f "$MD/SHA256SUMS" ]; then
  .venv/bin/python scripts/setup/fetch_model.py "$MODEL" --no-convert
  gguf=$(ls models/gguf/*.gguf | grep -i "${MODEL%%-instruct}" | head -1)
  split -b "${PIECE_MB}M" -d "$gguf" "$MD/part"
  (cd "$MD" && sha256sum part* > SHA256SUMS) && sha256sum < "$gguf" | cut -d' ' -f1 > "$MD/WHOLE.sha256"
  echo "$(basename "$gguf")" > "$MD/NAME"
  echo "stage: $(ls "$MD"/part* | wc -l) model pieces of $(basename "$gguf")"
fi
du -sh "$OUT"/* | sed 's/^/stage: /'
