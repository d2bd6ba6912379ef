# Source this first in every scripts/device/*.sh: the device profile's places (configs/profiles/device.yaml,
# its `device` section) as variables — STAGE, SITE, SITE_UNSLOTH, R_ROOT, OUT_FILES, OUT_MIB, PIECE_MIB,
# R_LD_LIBRARY_PATH — so that no path of that machine is written anywhere else. DEVICE_PROFILE: another profile
# (a name or a file of the same shape; tests point it at a temporary folder); PYTHON: the interpreter to ask.
_rl_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
eval "$(PYTHONPATH="$_rl_root/src${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" -m rarelang.experiments shell \
        "${DEVICE_PROFILE:-device}")" || { echo "profile.sh: cannot read the device profile" >&2; exit 2; }
