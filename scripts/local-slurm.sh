#!/usr/bin/env bash
# local-slurm.sh - run a real single-node SLURM cluster on this machine.
#
# For rulec's tests, and for trying rulec's SLURM mode on a laptop or a CI
# machine. It runs munged, slurmctld and slurmd by hand (no systemd needed),
# as root, with every file kept in one state directory. The system-wide
# configuration (/etc/slurm, /etc/munge, /run/munge) is never touched.
#
# Usage:
#   scripts/local-slurm.sh start    install packages if missing, start the
#                                   daemons, wait for an idle node. The LAST
#                                   line of stdout is `export SLURM_CONF=...`:
#                                     eval "$(scripts/local-slurm.sh start | tail -1)"
#                                   Everything else goes to stderr. A no-op
#                                   when the cluster is already running with
#                                   the same configuration; restarts it when
#                                   the configuration changed.
#   scripts/local-slurm.sh stop     cancel all jobs, wait for them to end,
#                                   stop the daemons (SIGTERM, by recorded
#                                   PID only). A no-op when not running.
#   scripts/local-slurm.sh status   show each daemon and `sinfo`.
#                                   Exit 0 when up, 3 when down.
#
# Environment knobs:
#   LOCAL_SLURM_DIR             state directory: config, munge key and socket,
#                               logs, spool, pid files, jobcomp log
#                               (default /tmp/rulec-slurm)
#   LOCAL_SLURM_CPUS            CPUs advertised by the node (default: nproc);
#                               more than the hardware has is allowed
#   LOCAL_SLURM_MAX_ARRAY_SIZE  MaxArraySize (default 1001, SLURM's default)
#   LOCAL_SLURM_PORT            slurmctld port; slurmd uses the next one
#                               (default 6817, SLURM's default). Change it
#                               to run next to another SLURM on this machine.
#   LOCAL_SLURM_KILL_INVALID_DEP=1
#                               DependencyParameters=kill_invalid_depend: jobs
#                               whose dependency can never be satisfied are
#                               cancelled instead of pending forever (off by
#                               default, as on real clusters)
#
# Partitions: `debug` (Default=YES, MaxTime=INFINITE) and `short`
# (MaxTime=01:00:00). Accounting (slurmdbd) is not configured: `sacct` does
# not work, finished jobs are visible through `scontrol show job` for
# MinJobAge=600 s and forever in <dir>/jobcomp/jobcomp.log.
#
# Packages (Debian/Ubuntu): munge slurmctld slurmd slurm-client, installed
# with apt-get when missing. Needs root.

set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C

STATE_DIR="${LOCAL_SLURM_DIR:-/tmp/rulec-slurm}"
PACKAGES=(munge slurmctld slurmd slurm-client)
START_TIMEOUT=30     # seconds to wait for the node to become idle
MARKER_VAR=RULEC_LOCAL_SLURM   # env marker put on our daemons (and inherited
                               # by slurmstepd) to find leftovers on stop

log() { printf 'local-slurm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# usage [EXIT_CODE]: print the header comment.
usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2
    exit "${1:-2}"
}

need_root() {
    ((EUID == 0)) || die "must run as root (the daemons run as root: SlurmUser=root)"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- paths

# set_paths [create]: resolve the state directory (creating it if asked).
set_paths() {
    [[ "${1:-}" == create ]] && mkdir -p "$STATE_DIR"
    if [[ -d "$STATE_DIR" ]]; then
        STATE_DIR="$(cd "$STATE_DIR" && pwd -P)"
    else
        STATE_DIR="$(realpath -m "$STATE_DIR")"
    fi
    CONF="$STATE_DIR/slurm.conf"
    RUN_DIR="$STATE_DIR/run"
    LOG_DIR="$STATE_DIR/log"
    MUNGE_DIR="$STATE_DIR/munge"
    SPOOL_DIR="$STATE_DIR/spool"
    JOBCOMP_DIR="$STATE_DIR/jobcomp"
    MUNGE_SOCKET="$RUN_DIR/munge.socket"
    MUNGE_KEY="$MUNGE_DIR/munge.key"
    PID_MUNGED="$RUN_DIR/munged.pid"
    PID_SLURMCTLD="$RUN_DIR/slurmctld.pid"
    PID_SLURMD="$RUN_DIR/slurmd.pid"
    NODE="$(hostname -s 2>/dev/null || uname -n)"
    NODE="${NODE%%.*}"
    export SLURM_CONF="$CONF"
}

# Serialise concurrent invocations (e.g. several pytest-xdist workers).
# The lock fd (9) is closed for every daemon we start.
take_lock() {
    exec 9>"$STATE_DIR/.lock"
    flock -w 600 9 || die "timed out waiting for the lock $STATE_DIR/.lock"
}

# ---------------------------------------------------------------- processes

# pid_of NAME PIDFILE: print the PID if the pid file names a live (non-zombie)
# process that is our NAME daemon (its command line mentions our state dir).
pid_of() {
    local name="$1" pidfile="$2" pid cmdline state
    [[ -r "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile" 2>/dev/null)" || return 1
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    state="$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$name"* && "$cmdline" == *"$STATE_DIR/"* ]] || return 1
    printf '%s\n' "$pid"
}

alive() { pid_of "$@" >/dev/null; }

munged_pid()    { pid_of munged "$PID_MUNGED"; }
slurmctld_pid() { pid_of slurmctld "$PID_SLURMCTLD"; }
slurmd_pid()    { pid_of slurmd "$PID_SLURMD"; }

any_daemon_alive() {
    alive munged "$PID_MUNGED" || alive slurmctld "$PID_SLURMCTLD" ||
        alive slurmd "$PID_SLURMD"
}

all_daemons_alive() {
    alive munged "$PID_MUNGED" && alive slurmctld "$PID_SLURMCTLD" &&
        alive slurmd "$PID_SLURMD"
}

# PIDs of this script and its ancestors: never signalled.
ancestors() {
    local pid=$$
    while [[ -n "$pid" && "$pid" != 0 ]]; do
        printf '%s\n' "$pid"
        pid="$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
    done
}

# Processes left behind by this cluster: slurmstepd (carries our marker,
# inherited from slurmd) and job processes (carry SLURM_JOB_ID and our
# SLURM_CONF). This script and its ancestors are excluded.
leftover_pids() {
    local p pid self
    self=" $(ancestors | tr '\n' ' ') "
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        [[ "$self" == *" $pid "* ]] && continue
        [[ -r "$p/environ" ]] || continue
        if grep -qzxF "$MARKER_VAR=$STATE_DIR" "$p/environ" 2>/dev/null ||
            { grep -qzxF "SLURM_CONF=$CONF" "$p/environ" 2>/dev/null &&
                grep -qz '^SLURM_JOB_ID=' "$p/environ" 2>/dev/null; }; then
            printf '%s\n' "$pid"
        fi
    done
}

stepd_pids() {
    local pid
    for pid in $(leftover_pids); do
        [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == */slurmstepd ]] &&
            printf '%s\n' "$pid"
    done
    return 0
}

# stop_pid NAME PID: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
    local name="$1" pid="$2" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        if [[ ! -d "/proc/$pid" ]] ||
            [[ "$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" == [ZX] ]]; then
            log "$name (pid $pid) stopped"
            return 0
        fi
        sleep 0.1
    done
    log "warning: $name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- install

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_CREATED=0

cleanup() {
    if ((POLICY_RC_CREATED)); then
        rm -f "$POLICY_RC"
        POLICY_RC_CREATED=0
    fi
}
trap cleanup EXIT

packages_missing() {
    local cmd
    for cmd in munged munge unmunge slurmctld slurmd slurmstepd sbatch sinfo squeue scontrol scancel; do
        command -v "$cmd" >/dev/null 2>&1 || return 0
    done
    return 1
}

install_packages() {
    packages_missing || return 0
    local t0 rc=0
    t0="$(now)"
    command -v apt-get >/dev/null 2>&1 ||
        die "SLURM/MUNGE not found and apt-get is unavailable; install: ${PACKAGES[*]}"
    ((EUID == 0)) || die "SLURM/MUNGE not found; installing needs root: apt-get install ${PACKAGES[*]}"
    # Keep the packages' maintainer scripts from starting system-wide
    # munge/slurm services (and a munged on /run/munge).
    if [[ ! -e "$POLICY_RC" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 0755 "$POLICY_RC"
        POLICY_RC_CREATED=1
    fi
    log "installing ${PACKAGES[*]} ..."
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends "${PACKAGES[@]}"
    } </dev/null >&2 9>&- || rc=$?
    cleanup
    ((rc == 0)) || die "apt-get failed (exit $rc)"
    packages_missing && die "packages installed but commands still missing"
    log "installed in $(elapsed "$t0") s ($(slurmd -V 2>/dev/null || true))"
}

# ---------------------------------------------------------------- config

render_conf() {
    local cpus mem_kb mem_mb def_mem max_array max_jobs
    cpus="${LOCAL_SLURM_CPUS:-$(nproc)}"
    [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "LOCAL_SLURM_CPUS must be a positive integer, got '$cpus'"
    mem_kb="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
    mem_mb=$((mem_kb * 9 / 10 / 1024))
    def_mem=$((mem_mb / cpus))
    ((def_mem > 1024)) && def_mem=1024
    ((def_mem < 1)) && def_mem=1
    max_array="${LOCAL_SLURM_MAX_ARRAY_SIZE:-1001}"
    if ! [[ "$max_array" =~ ^[0-9]{1,7}$ ]] || ((max_array > 4000001)); then
        die "LOCAL_SLURM_MAX_ARRAY_SIZE must be an integer in 0..4000001, got '$max_array'"
    fi
    # MaxJobCount should stay well above MaxArraySize.
    max_jobs=$((max_array * 2 > 10000 ? max_array * 2 : 10000))
    PORT="${LOCAL_SLURM_PORT:-6817}"
    if ! [[ "$PORT" =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT >= 65535)); then
        die "LOCAL_SLURM_PORT must be a TCP port number, got '$PORT'"
    fi

    cat <<EOF
# Generated by scripts/local-slurm.sh; rewritten on every start.
ClusterName=rulec-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))

AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET

StateSaveLocation=$SPOOL_DIR/slurmctld
SlurmdSpoolDir=$SPOOL_DIR/slurmd
SlurmctldPidFile=$PID_SLURMCTLD
SlurmdPidFile=$PID_SLURMD
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmdParameters=config_overrides

SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem

SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1
# Any Epilog makes slurmd report EPILOG_COMPLETE, which runs the scheduler at
# once: dependency chains advance in ~50 ms instead of on the next tick.
Epilog=/bin/true
$( [[ "${LOCAL_SLURM_KILL_INVALID_DEP:-0}" == 1 ]] && echo "DependencyParameters=kill_invalid_depend" || echo "# DependencyParameters=kill_invalid_depend  (LOCAL_SLURM_KILL_INVALID_DEP=1)" )

AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP_DIR/jobcomp.log

MaxArraySize=$max_array
MaxJobCount=$max_jobs
MinJobAge=600
KillWait=5
ReturnToService=2

NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=ALL Default=NO MaxTime=01:00:00 State=UP
EOF
}

make_dirs() {
    local old_umask
    old_umask="$(umask)"
    umask 022
    # munged refuses world-writable directories without the sticky bit.
    chmod go-w "$STATE_DIR"
    mkdir -p "$RUN_DIR" "$LOG_DIR" "$SPOOL_DIR/slurmctld" "$SPOOL_DIR/slurmd" "$JOBCOMP_DIR"
    chmod 0755 "$RUN_DIR" "$LOG_DIR" # munge socket dir must be 0755
    mkdir -p "$MUNGE_DIR"
    chmod 0700 "$MUNGE_DIR"
    if [[ ! -s "$MUNGE_KEY" ]]; then
        dd if=/dev/urandom of="$MUNGE_KEY.tmp" bs=1024 count=1 status=none
        chmod 0400 "$MUNGE_KEY.tmp"
        mv -f "$MUNGE_KEY.tmp" "$MUNGE_KEY"
    fi
    chmod 0400 "$MUNGE_KEY"
    umask "$old_umask"
}

# ---------------------------------------------------------------- start

show_logs() {
    local f
    for f in "$LOG_DIR"/munged.log "$LOG_DIR"/slurmctld.log "$LOG_DIR"/slurmd.log "$LOG_DIR"/*.stderr; do
        [[ -s "$f" ]] || continue
        log "---- tail of $f"
        tail -n 15 "$f" >&2 || true
    done
}

# start_failed MESSAGE: report, show the logs, stop what is running, exit 1.
start_failed() {
    log "error: $1"
    show_logs
    log "stopping the partly started cluster"
    do_stop
    exit 1
}

# node_state: the node's state as sinfo prints it (e.g. idle, mixed, down*).
node_state() {
    sinfo -h -p debug -n "$NODE" -o '%T' 2>/dev/null | head -n 1
}

# slurmd_registered: true unless we just launched slurmd (SLURMD_LAUNCHED,
# epoch seconds) and slurmctld has not yet seen that slurmd register. After a
# restart slurmctld reports the node state saved earlier, so the state alone
# does not prove that the new slurmd is up.
SLURMD_LAUNCHED=
slurmd_registered() {
    [[ -z "$SLURMD_LAUNCHED" ]] && return 0
    local t
    t="$(scontrol show node -o "$NODE" 2>/dev/null |
        grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2)" || return 1
    [[ -n "$t" && "$t" != None ]] || return 1
    t="$(date -d "$t" +%s 2>/dev/null)" || return 1
    ((t >= SLURMD_LAUNCHED))
}

wait_ready() {
    local deadline state resumed=0 d
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        state="$(node_state || true)"
        case "$state" in
        idle | mixed | allocated | completing)
            slurmd_registered && return 0
            ;;
        down | drained | draining)
            # Responding but not usable (e.g. left down by an old state
            # file). ReturnToService=2 normally avoids this.
            if ((!resumed)); then
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi
            ;;
        esac
        if ((SECONDS >= deadline)); then
            start_failed "node '$NODE' not idle after ${START_TIMEOUT}s (state: '${state:-no answer}')"
        fi
        for d in munged slurmctld slurmd; do
            if ! alive "$d" "$RUN_DIR/$d.pid"; then
                start_failed "$d died during start-up"
            fi
        done
        sleep 0.1
    done
}

start_munged() {
    if alive munged "$PID_MUNGED"; then return 0; fi
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    env "$MARKER_VAR=$STATE_DIR" munged \
        --key-file="$MUNGE_KEY" \
        --socket="$MUNGE_SOCKET" \
        --pid-file="$PID_MUNGED" \
        --log-file="$LOG_DIR/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" \
        </dev/null >"$LOG_DIR/munged.stderr" 2>&1 9>&- ||
        start_failed "munged failed to start"
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -S "$MUNGE_SOCKET" ]] &&
            munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
            log "munged started (pid $(munged_pid || echo '?'))"
            return 0
        fi
        sleep 0.05
    done
    start_failed "munged is not answering on $MUNGE_SOCKET"
}

start_slurm_daemon() {
    local name="$1"
    shift
    if alive "$name" "$RUN_DIR/$name.pid"; then return 0; fi
    rm -f "$RUN_DIR/$name.pid"
    env "$MARKER_VAR=$STATE_DIR" "$name" "$@" \
        </dev/null >"$LOG_DIR/$name.stderr" 2>&1 9>&- ||
        start_failed "$name failed to start"
    log "$name started"
}

cmd_start() {
    local t0 conf_text
    t0="$(now)"
    need_root
    set_paths create
    take_lock
    install_packages
    conf_text="$(render_conf)"

    if any_daemon_alive && [[ -f "$CONF" && "$(cat "$CONF")" == "$conf_text" ]]; then
        if all_daemons_alive; then
            wait_ready
            log "already running ($(elapsed "$t0") s)"
            printf 'export SLURM_CONF=%q\n' "$CONF"
            return 0
        fi
    elif any_daemon_alive; then
        log "configuration changed; restarting"
        do_stop
    fi

    make_dirs
    printf '%s\n' "$conf_text" >"$CONF.tmp"
    mv -f "$CONF.tmp" "$CONF"

    start_munged
    start_slurm_daemon slurmctld -f "$CONF"
    alive slurmd "$PID_SLURMD" || SLURMD_LAUNCHED="$(date +%s)"
    start_slurm_daemon slurmd -f "$CONF" -N "$NODE"
    wait_ready
    log "node $NODE is $(node_state) ($(elapsed "$t0") s); logs in $LOG_DIR"
    printf 'export SLURM_CONF=%q\n' "$CONF"
}

# ---------------------------------------------------------------- stop

do_stop() {
    local ids pid i name pids

    if alive slurmctld "$PID_SLURMCTLD"; then
        ids="$(squeue -h -o '%i' 2>/dev/null | tr '\n' ' ' || true)"
        if [[ -n "${ids// /}" ]]; then
            log "cancelling jobs: $ids"
            # shellcheck disable=SC2086
            scancel $ids 2>/dev/null || true
        fi
        # Wait for running/completing jobs to drain (KillWait=5 s, plus slack).
        for ((i = 0; i < 150; i++)); do
            ids="$(squeue -h -t R,CG,S -o '%i' 2>/dev/null || true)"
            [[ -z "$ids" && -z "$(stepd_pids)" ]] && break
            sleep 0.1
        done
    fi
    # Still-running slurmstepds (e.g. slurmctld was already gone).
    for ((i = 0; i < 100; i++)); do
        [[ -z "$(stepd_pids)" ]] && break
        ((i == 0)) && log "waiting for slurmstepd to exit"
        sleep 0.1
    done

    for name in slurmd slurmctld munged; do
        if pid="$(pid_of "$name" "$RUN_DIR/$name.pid")"; then
            stop_pid "$name" "$pid"
        fi
    done

    pids="$(leftover_pids | tr '\n' ' ')"
    if [[ -n "${pids// /}" ]]; then
        log "killing leftover job processes: $pids"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
}

cmd_stop() {
    local t0
    t0="$(now)"
    need_root
    set_paths
    if [[ ! -d "$STATE_DIR" ]]; then
        log "not running"
        return 0
    fi
    take_lock
    if ! any_daemon_alive && [[ -z "$(stepd_pids)" ]]; then
        log "not running"
        return 0
    fi
    do_stop
    log "stopped ($(elapsed "$t0") s)"
}

# ---------------------------------------------------------------- status

cmd_status() {
    local name pid up=1
    set_paths
    for name in munged slurmctld slurmd; do
        if pid="$(pid_of "$name" "$RUN_DIR/$name.pid")"; then
            printf '%-10s running (pid %s)\n' "$name" "$pid"
        else
            printf '%-10s not running\n' "$name"
            up=0
        fi
    done
    printf 'SLURM_CONF=%s\n' "$CONF"
    if alive slurmctld "$PID_SLURMCTLD"; then
        sinfo 2>&1 || up=0
    fi
    if ((up)); then
        return 0
    fi
    return 3
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
-h | --help | help) usage 0 ;;
*) usage ;;
esac
