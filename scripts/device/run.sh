#!/usr/bin/env bash
# The rented-GPU executor (scripts/device/run.py: start | wait | pack | state | restore), under the environment
# the verified stack ran with (env.sh: the device profile's places, the carried site on PYTHONPATH).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/device/env.sh
exec python3 scripts/device/run.py "$@"
