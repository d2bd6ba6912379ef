# Sourced by the one-machine scripts (scripts/gpu/machine_*.sh): the machine's clock and small helpers.
# Times count from $S/T0, the container's start when it is recent (the machine's held time counts from about then).
#   set_t0                 write $S/T0 once (pid 1's start, else now)
#   train_bg RUN END       RUN's train-bg with TRAIN_WALL_S ending END s after T0
#   now, t0, el (elapsed, as "[N s after T0]"), alive PIDFILE
S=${S:-/root/stage}; H=${H:-scripts/gpu/headline.sh}
now() { date +%s; }
t0() { cat $S/T0; }
el() { echo "[$(( $(now) - $(t0) )) s after T0]"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
set_t0() {
  mkdir -p $S
  if [ ! -f $S/T0 ]; then
    local e; e=$(ps -o etimes= -p 1 2>/dev/null | tr -d ' '); { [ -n "$e" ] && [ "$e" -lt 400 ]; } || e=0
    echo $(( $(now) - e )) > $S/T0; echo "t0: pid 1 started $e s ago"
  fi
}
train_bg() {
  local w=$(( $(t0) + $2 - $(now) ))
  echo "train: TRAIN_WALL_S=$w $(el)"
  TRAIN_WALL_S=$w bash $H "$1" train-bg
}
