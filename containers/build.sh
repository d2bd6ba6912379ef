#!/usr/bin/env bash
# Build the sandbox images where Apptainer exists (HPC login/compute nodes); explain otherwise.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v apptainer >/dev/null 2>&1; then
  cat >&2 <<'MSG'
apptainer is not installed on this machine, so the .sif images cannot be built here.
On an HPC node with Apptainer (>= 1.1):  make containers   (or: bash containers/build.sh)
Then set `machine.sandbox_backend: apptainer` in params.yaml; the images are read from
machine.apptainer.images (containers/julia.sif, containers/r.sif).
Without Apptainer, keep `machine.sandbox_backend: bwrap` (bubblewrap), which `make setup` installs.
MSG
  exit 2
fi
for name in julia r; do
  if [ -f "$name.sif" ] && [ "$name.sif" -nt "$name.def" ]; then
    echo "$name.sif is up to date"
  else
    apptainer build --force "$name.sif" "$name.def"
  fi
  apptainer test "$name.sif"
done
