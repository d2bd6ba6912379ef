#!/usr/bin/env bash
# Submit an experiment's stages as dependent Slurm jobs (each waits for the one before: afterok), on a profile.
#   slurm/submit.sh EXPERIMENT [PROFILE]            PROFILE: configs/profiles/<name>.yaml (default: slurm)
#   STAGES="train evaluate compare" slurm/submit.sh r-0.5b slurm
# Default stages: the embedded default: data train evaluate figures; a headline experiment: train evaluate compare
# (its data: `slurm/submit.sh unified-0.5b slurm` with STAGES="data train evaluate compare"). Prints the job ids.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPERIMENT="${1:?usage: slurm/submit.sh EXPERIMENT [PROFILE]}"
PROFILE="${2:-slurm}"
VENV="${RARELANG_VENV:-.venv}"
R="$VENV/bin/rarelang"
[ -x "$R" ] || { echo "submit: no $R (make setup, or set RARELANG_VENV)" >&2; exit 2; }
if [ -z "${STAGES:-}" ]; then
  if "$R" slurm targets "$EXPERIMENT" figures 2>/dev/null | grep -q '^dvc.yaml:'; then STAGES="data train evaluate figures"
  else STAGES="train evaluate compare"; fi
fi
mkdir -p logs/slurm
dep=""
for stage in $STAGES; do
  "$R" slurm targets "$EXPERIMENT" "$stage" > /dev/null          # an unknown experiment or stage stops here
  read -r -a opts <<< "$("$R" slurm options "$PROFILE" "$stage")"
  id=$(sbatch --parsable --job-name="rl-$EXPERIMENT-$stage" ${dep:+--dependency=afterok:$dep} "${opts[@]}" \
       --export=ALL,EXPERIMENT="$EXPERIMENT",STAGE="$stage",RARELANG_PROFILE="$PROFILE",RARELANG_VENV="$VENV" \
       slurm/run.sbatch)
  echo "$stage $id"
  dep=$id
done
