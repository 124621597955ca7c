#!/usr/bin/env bash
# One-node SLURM test cluster on 127.0.0.1 (munge + slurmctld + slurmd, two fake GPUs).
#
# Usage (as root):  bash tools/slurm-cluster.sh start|stop|status
#
# Needs the Debian packages `slurm-wlm munge` (Slurm 22.05, munge 0.5):
#     apt-get update && apt-get install -y slurm-wlm munge
# `start` writes /etc/slurm/slurm.conf and /etc/slurm/gres.conf (only files that carry this
# script's marker, or none, are overwritten), starts the three daemons unless they already run,
# waits until the node is idle and records the pids under $STATE_DIR. It is idempotent.
# `stop` kills exactly the recorded pids (never by name). `status` prints daemons and `sinfo`.
#
# Recipe and pitfalls: docs/spec/workflow.md §4. Without slurmdbd `sacct` does not work, so the
# Snakemake profile for this cluster (profiles/ci-slurm) polls with squeue; MinJobAge below must
# stay >= 3 x its slurm-init-seconds-before-status-checks or the plugin falls back to sacct and
# hangs.
set -euo pipefail

MARKER="# written by pets tools/slurm-cluster.sh"
CONF_DIR=/etc/slurm
STATE_DIR=${PETS_SLURM_STATE_DIR:-/run/pets-slurm}
LOG_DIR=/var/log/slurm
MIN_JOB_AGE=300 # seconds a finished job stays visible to `squeue --states=all`
START_TIMEOUT=30

die() {
    echo "slurm-cluster: error: $*" >&2
    exit 1
}

pid_alive() { # pidfile -> 0 when the recorded process runs
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

check_prereqs() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (the daemons run as root/munge)"
    local b
    for b in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd sinfo scontrol; do
        command -v "$b" >/dev/null ||
            die "$b not found; install with: apt-get update && apt-get install -y slurm-wlm munge"
    done
    [[ -e /dev/tty0 && -e /dev/tty1 ]] || die "/dev/tty0 and /dev/tty1 (fake GPU files) are missing"
}

write_conf() { # path content: refuse to overwrite a conf that someone else wrote
    local path=$1 content=$2
    if [[ -e $path ]] && ! grep -qF "$MARKER" "$path"; then
        die "$path exists and was not written by this script; move it away first"
    fi
    printf '%s\n' "$content" >"$path.tmp"
    mv "$path.tmp" "$path"
}

write_confs() {
    local node cpus mem_mb
    node=$(hostname -s)
    cpus=$(nproc --all)
    # Leave 10 % headroom: slurmd drains a node whose RealMemory exceeds what it finds.
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    mkdir -p "$CONF_DIR"
    write_conf "$CONF_DIR/slurm.conf" "$MARKER
ClusterName=petsci
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=$MIN_JOB_AGE
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP"
    # Two fake GPUs: gres/gpu needs real device files, any character device will do.
    write_conf "$CONF_DIR/gres.conf" "$MARKER
NodeName=${node} Name=gpu File=/dev/tty[0-1]"
}

node_state() {
    sinfo -h -N -o %T 2>/dev/null | head -1
}

start() {
    check_prereqs
    mkdir -p "$STATE_DIR" /var/spool/slurmctld /var/spool/slurmd "$LOG_DIR"
    write_confs
    if ! pid_alive "$STATE_DIR/munged.pid"; then
        install -d -o munge -g munge -m 0755 /run/munge
        runuser -u munge -- /usr/sbin/munged
        cp /run/munge/munged.pid "$STATE_DIR/munged.pid"
    fi
    pid_alive "$STATE_DIR/slurmctld.pid" || /usr/sbin/slurmctld
    pid_alive "$STATE_DIR/slurmd.pid" || /usr/sbin/slurmd
    local deadline=$((SECONDS + START_TIMEOUT)) state=""
    while ((SECONDS < deadline)); do
        state=$(node_state)
        case $state in
        idle | mixed | allocated) break ;;
        drain* | down*) scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    case $state in
    idle | mixed | allocated) ;;
    *) die "node not ready after ${START_TIMEOUT}s (state '${state}'); see $LOG_DIR/*.log" ;;
    esac
    echo "slurm-cluster: up (node $(hostname -s), state $state, pids in $STATE_DIR)"
}

stop() {
    local name pids=()
    for name in slurmd slurmctld munged; do
        if pid_alive "$STATE_DIR/$name.pid"; then
            pids+=("$(cat "$STATE_DIR/$name.pid")")
            kill "$(cat "$STATE_DIR/$name.pid")"
        fi
    done
    local p deadline=$((SECONDS + 15))
    for p in "${pids[@]}"; do
        while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        kill -0 "$p" 2>/dev/null && kill -9 "$p"
    done
    rm -f "$STATE_DIR"/{slurmd,slurmctld,munged}.pid
    echo "slurm-cluster: stopped (${#pids[@]} daemon(s))"
}

status() {
    local name rc=0
    for name in munged slurmctld slurmd; do
        if pid_alive "$STATE_DIR/$name.pid"; then
            echo "$name: running (pid $(cat "$STATE_DIR/$name.pid"))"
        else
            echo "$name: not running"
            rc=1
        fi
    done
    ((rc == 0)) && sinfo
    return $rc
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
