#!/usr/bin/env bash
# Keep the committed headline results (adapters, completions: ~34 MB) out of the working tree while
# making device calls, so each call has room for ~60 MiB of staged pieces (a call carries 64 MiB
# including every tracked file on disk):
#   bash scripts/device/slim.sh on     sparse checkout without results/headline/ and results/protocols/
#   bash scripts/device/slim.sh off    everything back (do this before committing results there)
# The files stay tracked and committed (git status is clean either way); they are only absent on disk.
# Carry a committed adapter a device call needs as a copy in .gpu/ (e.g. .gpu/adapter-RUN).
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
  on)  git sparse-checkout set --no-cone '/*' '!/results/headline/' '!/results/protocols/'
       echo "slim: working tree $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes on disk" ;;
  off) git sparse-checkout disable; echo "slim: off (results/headline and results/protocols are back)" ;;
  *)   echo "usage: $0 on|off" >&2; exit 2 ;;
esac
