#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine (Debian's slurm-wlm + munge; controller and compute daemon on
# localhost), for the Slurm path's tests and for trying slurm/submit.sh on a laptop. As root.
#   bash scripts/setup/slurm_local.sh start    install if missing, start munge, slurmctld, slurmd; wait for the node
#   bash scripts/setup/slurm_local.sh status   sinfo
#   bash scripts/setup/slurm_local.sh stop     stop the daemons
# State, spool and logs: $SLURM_LOCAL_DIR (default /var/tmp/rarelang-slurm). cgroups are not needed
# (proctrack/linuxproc, task/none). The node has this machine's cores and RealMemory=8000 (MB).
set -euo pipefail
DIR="${SLURM_LOCAL_DIR:-/var/tmp/rarelang-slurm}"
HOST=$(hostname -s)
[ "$(id -u)" -eq 0 ] || { echo "slurm_local: run as root (munge and slurmd need it)" >&2; exit 2; }

up() { sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

case "${1:-start}" in
start)
  bash "$(dirname "$0")/apt_install.sh" slurm slurm-wlm munge
  mkdir -p "$DIR/state" "$DIR/spool" /run/munge /var/log/munge /var/lib/munge /etc/slurm
  chown munge:munge /run/munge /var/log/munge /var/lib/munge && chmod 700 /var/log/munge
  # munged must run as the munge user (as root it fails, and a log made by root is refused afterwards)
  pgrep -x munged > /dev/null || runuser -u munge -- /usr/sbin/munged
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$HOST
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/ctld.log
SlurmdLogFile=$DIR/d.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# keep a finished job's state for a day (default 300 s): dependent chains longer than that stay readable
MinJobAge=86400
NodeName=$HOST CPUs=$(nproc) RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
  pgrep -x slurmctld > /dev/null || slurmctld
  pgrep -x slurmd > /dev/null || slurmd
  for _ in $(seq 60); do up && break; sleep 1; done
  up || { echo "slurm_local: the node did not come up; logs in $DIR" >&2; sinfo >&2 || true; exit 1; }
  echo "slurm_local: up ($(sinfo -h -o '%N %c CPUs %T'))" ;;
status)
  sinfo ;;
stop)
  pkill -x slurmd || true; pkill -x slurmctld || true
  echo "slurm_local: stopped" ;;
*) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
