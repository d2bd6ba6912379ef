# Sourced by every job: the project's environment on an HPC node.
#   RARELANG_VENV   a virtualenv with requirements/gpu.lock installed (default: .venv-gpu)
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
VENV="${RARELANG_VENV:-.venv-gpu}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "no virtualenv at $VENV: python3.12 -m venv $VENV && $VENV/bin/pip install -r requirements/gpu.lock && $VENV/bin/pip install --no-deps -e ." >&2
  exit 2
fi
export PATH="$PWD/$VENV/bin:$PATH"
export HF_HOME="${HF_HOME:-$PWD/.hf-cache}"
export TOKENIZERS_PARALLELISM=false
# the sandbox on HPC: Apptainer images (make containers), unless the cluster allows bubblewrap
export RARELANG_SANDBOX_BACKEND="${RARELANG_SANDBOX_BACKEND:-apptainer}"
dvc pull -q || true      # reuse what others computed (shared DVC remote, docs/HPC.md)
