#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, to try the job scripts of hpc/ on a workstation
# and in tests. It mirrors the partitions of JUWELS Booster and JUPITER on one node called
# "localhost" that advertises 288 CPUs and 4 (fake) GPUs.
#
#   hpc/local/slurm.sh up       install (if missing) munge + Slurm, write the config, start the daemons
#   hpc/local/slurm.sh down     cancel running jobs, stop slurmd, slurmctld and munged (packages stay installed;
#                               pending jobs stay queued for the next up)
#   hpc/local/slurm.sh status   sinfo + squeue, or say it is down (exit 1)
#
# up and down need root; both are idempotent (up when already up takes a fraction of a second; up after a
# change of the generated config restarts slurmctld and slurmd, which running jobs survive).
# No systemd: the daemons are started by hand.
#
# Environment:
#   ABC3D_SLURM_DIR            state dir (config, state, spool, logs, pid files, fake GPU devices);
#                              default /var/lib/abc3d-slurm. /etc/slurm/{slurm,gres,cgroup}.conf are
#                              symlinks into it.
#   ABC3D_SLURM_TIMEOUT        seconds to wait for each daemon (default 60).
#   ABC3D_SLURM_REQUEUE_DELAY  AuthInfo=cred_expire (default 10, Slurm's minimum 5, Slurm's default 120).
#
# Things worth knowing (Debian 12, Slurm 22.05):
#   - sbatch --wait polls slowly; poll `squeue -h -j ID` instead.
#   - A requeued job (scontrol requeue, or a node failure with JobRequeue=1) gets
#     EligibleTime = requeue time + cred_expire + 1 s: 11 s here, 121 s with Slurm's default.
#   - A requeued job's output file is truncated on restart unless the job uses --open-mode=append.
#   - scancel -s SIG JOBID signals the job steps (srun) only, every process of them; -b/--batch only the
#     batch shell; -f/--full the batch shell, its children and the steps.
#   - Options newer than Slurm 22.05 are rejected by sbatch here.
#   - The 288 CPUs and 4 GPUs are not real: the GPUs are character devices that behave like /dev/null,
#     only there so that --gres=gpu:N is granted and CUDA_VISIBLE_DEVICES is set.
#   - "mpi/pmix ... can not load PMIx library" errors in the logs are harmless (MpiDefault=none).
#   - Logs: $ABC3D_SLURM_DIR/log/{slurmctld,slurmd}.log, /var/log/munge/munged.log.

set -euo pipefail

STATE_DIR=${ABC3D_SLURM_DIR:-/var/lib/abc3d-slurm}
TIMEOUT=${ABC3D_SLURM_TIMEOUT:-60}
PACKAGES=(slurmctld slurmd slurm-client munge)
NODE=localhost
CPUS=288           # 4 x 72 cores, a JUPITER node (4 GH200, one 72-core Grace each); a JUWELS Booster node (48) fits too
SOCKETS=4
CORES_PER_SOCKET=72
GPUS=4
# AuthInfo=cred_expire: seconds a requeued job waits before it may start again (EligibleTime = requeue time
# + cred_expire + 1) and lifetime of a step credential. Slurm's default is 120 and its minimum 5 (smaller
# values are refused with an error and the default used); a credential must only outlive the launch of a
# step, which on one machine takes well under a second, so 10 leaves margin for a loaded machine.
REQUEUE_DELAY=${ABC3D_SLURM_REQUEUE_DELAY:-10}

CONF_DIR=$STATE_DIR/etc
LOG_DIR=$STATE_DIR/log
RUN_DIR=$STATE_DIR/run
DEV_DIR=$STATE_DIR/dev
CTLD_LOG=$LOG_DIR/slurmctld.log
SLURMD_LOG=$LOG_DIR/slurmd.log
MUNGE_LOG=/var/log/munge/munged.log
MUNGE_KEY=/etc/munge/munge.key
MARKER="abc3d local SLURM mirror"

say() { printf 'slurm.sh: %s\n' "$*"; }
die() { printf 'slurm.sh: error: %s\n' "$*" >&2; exit 1; }

# Last lines of a log file, to go with an error.
log_tail() {
    local f=$1
    if [[ -r $f ]]; then
        printf -- '--- last lines of %s ---\n' "$f" >&2
        tail -n 20 "$f" >&2 || true
        printf -- '---\n' >&2
    else
        printf 'slurm.sh: (no log at %s)\n' "$f" >&2
    fi
}

need_root() {
    if [[ $(id -u) -ne 0 ]]; then
        die "'$1' must run as root (it installs packages and starts munged, slurmctld and slurmd): sudo $0 $1"
    fi
}

running() { pgrep -x "$1" >/dev/null 2>&1; }

ctld_up() { timeout 15 scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_state() { timeout 15 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }

# --- packages -----------------------------------------------------------------------------------

missing_packages() {
    local p missing=()
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    printf '%s\n' "${missing[@]}"
}

install_packages() {
    local missing=()
    mapfile -t missing < <(missing_packages | sed '/^$/d')
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    local aptlog=$STATE_DIR/log/apt.log
    mkdir -p "$STATE_DIR/log"
    # Package scripts try to start the services; without systemd that fails, which is harmless here.
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$aptlog" 2>&1; then
        say "apt-get install failed; running apt-get update and trying again"
        apt-get update >>"$aptlog" 2>&1 || { log_tail "$aptlog"; die "apt-get update failed (see $aptlog)"; }
        apt-get install -y --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1 \
            || { log_tail "$aptlog"; die "apt-get install ${missing[*]} failed (see $aptlog)"; }
    fi
    mapfile -t missing < <(missing_packages | sed '/^$/d')
    [[ ${#missing[@]} -eq 0 ]] || die "still not installed after apt-get: ${missing[*]} (see $aptlog)"
}

# --- configuration ------------------------------------------------------------------------------

real_memory() {
    # RealMemory: what this machine really has (free -m) less 5 % (at least 512 MiB) for the OS and the
    # daemons. Memory is not a consumable resource here (CR_Core, not CR_Core_Memory) and the job scripts
    # request none, so this only matters to a job that asks for --mem: it is refused if it asks for more
    # than the machine has, rather than pretending to be a 512 GB JUWELS Booster node.
    local total margin
    total=$(free -m | awk '/^Mem:/ {print $2}')
    [[ $total =~ ^[0-9]+$ ]] || die "cannot read the memory size from free -m"
    margin=$((total / 20))
    ((margin < 512)) && margin=512
    echo $((total > margin + 512 ? total - margin : 512))
}

slurm_conf() {
    local mem
    mem=$(real_memory)
    cat <<EOF
# ${MARKER}: written by hpc/local/slurm.sh, do not edit (it is rewritten by every 'up').
#
# This is NOT a Jülich machine. It is a one-node cluster on this workstation that mirrors the partition
# names and time limits of JUWELS Booster (booster, develbooster, batch) and JUPITER (booster, all), so that
# the job scripts under hpc/ can be submitted, validated (sbatch --test-only) and run here.
# The node advertises ${CPUS} CPUs and ${GPUS} GPUs whatever the hardware (SlurmdParameters=config_overrides);
# the GPUs are fake character devices in ${DEV_DIR}.
ClusterName=abc3d-local
SlurmctldHost=${NODE}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Step credentials live ${REQUEUE_DELAY} s; this is also how long a requeued job waits before it may start again.
AuthInfo=cred_expire=${REQUEUE_DELAY}
# Listen on loopback only (the address "localhost" resolves to), not on every interface.
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmctldPort=6817
SlurmdPort=6818

StateSaveLocation=${STATE_DIR}/ctld
SlurmdSpoolDir=${STATE_DIR}/spool
SlurmctldPidFile=${RUN_DIR}/slurmctld.pid
SlurmdPidFile=${RUN_DIR}/slurmd.pid
SlurmctldLogFile=${CTLD_LOG}
SlurmdLogFile=${SLURMD_LOG}
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true

ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
# Main scheduling loop every 2 s (default 60). Between events (submit, job end) only this loop starts a job
# whose BeginTime has just passed, such as a requeued one; backfill skips its cycles when nothing changed.
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
# Keep finished jobs 300 s so that 'scontrol show job ID' still shows their ExitCode.
MinJobAge=300
JobRequeue=1
KillWait=5
InactiveLimit=0
Waittime=0
GresTypes=gpu

# RealMemory: this machine's memory less a margin (see real_memory in hpc/local/slurm.sh).
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} Sockets=${SOCKETS} CoresPerSocket=${CORES_PER_SOCKET} ThreadsPerCore=1 RealMemory=${mem} Gres=gpu:${GPUS} State=UNKNOWN

# Reject at submission (like the Jülich machines) a job that asks for more than its partition allows, e.g. a
# --time over MaxTime, instead of leaving it pending forever with Reason=PartitionTimeLimit.
EnforcePartLimits=ALL
# batch: the local CPU profile (default). booster/develbooster: JUWELS Booster; booster/all: JUPITER.
PartitionName=batch Nodes=${NODE} Default=YES MaxTime=24:00:00 State=UP
PartitionName=booster Nodes=${NODE} MaxTime=24:00:00 State=UP
PartitionName=develbooster Nodes=${NODE} MaxTime=02:00:00 State=UP
PartitionName=all Nodes=${NODE} MaxTime=24:00:00 State=UP
EOF
}

gres_conf() {
    cat <<EOF
# ${MARKER}: fake GPUs (character devices 1,3 like /dev/null) so that --gres=gpu:N is granted.
AutoDetect=off
NodeName=${NODE} Name=gpu File=${DEV_DIR}/nvidia[0-$((GPUS - 1))]
EOF
}

cgroup_conf() {
    cat <<EOF
# ${MARKER}: cgroups are not used (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none).
CgroupAutomount=no
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainDevices=no
EOF
}

CONFIG_CHANGED=0

# Writes $2 (content) to $1 when it differs; sets CONFIG_CHANGED.
write_if_changed() {
    local file=$1 content=$2
    if [[ ! -f $file ]] || [[ "$(cat "$file")" != "$content" ]]; then
        printf '%s\n' "$content" >"$file.tmp"
        mv -f "$file.tmp" "$file"
        CONFIG_CHANGED=1
    fi
}

link_etc() {
    local name=$1 target=$CONF_DIR/$1 link=/etc/slurm/$1
    if [[ -L $link ]] && [[ $(readlink "$link") == "$target" ]]; then
        return 0
    fi
    # Replace only what this script wrote (e.g. a link into another ABC3D_SLURM_DIR), never a real config.
    if [[ -e $link || -L $link ]] && ! grep -q "$MARKER" "$link" 2>/dev/null; then
        die "$link exists and is not from this script; move it away (e.g. mv $link $link.orig) and run up again"
    fi
    ln -sfn "$target" "$link"
    CONFIG_CHANGED=1
}

write_config() {
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$RUN_DIR" "$DEV_DIR" "$STATE_DIR/ctld" "$STATE_DIR/spool" /etc/slurm
    chmod 755 "$STATE_DIR"
    local i
    for ((i = 0; i < GPUS; i++)); do
        if [[ ! -c $DEV_DIR/nvidia$i ]]; then
            rm -f "$DEV_DIR/nvidia$i"
            mknod -m 666 "$DEV_DIR/nvidia$i" c 1 3
        fi
    done
    write_if_changed "$CONF_DIR/slurm.conf" "$(slurm_conf)"
    write_if_changed "$CONF_DIR/gres.conf" "$(gres_conf)"
    write_if_changed "$CONF_DIR/cgroup.conf" "$(cgroup_conf)"
    chmod 644 "$CONF_DIR"/*.conf
    # Slurm reads gres.conf and cgroup.conf from the directory of the slurm.conf path it opened
    # (/etc/slurm), not from where the symlink points, so all three are linked.
    link_etc slurm.conf
    link_etc gres.conf
    link_etc cgroup.conf
}

# --- daemons ------------------------------------------------------------------------------------

start_munge() {
    if [[ ! -s $MUNGE_KEY ]]; then
        say "creating $MUNGE_KEY"
        install -d -m 700 -o munge -g munge /etc/munge
        (umask 077 && head -c 1024 /dev/urandom >"$MUNGE_KEY")
    fi
    chown munge:munge /etc/munge "$MUNGE_KEY"
    chmod 700 /etc/munge
    chmod 400 "$MUNGE_KEY"
    install -d -m 755 -o munge -g munge /run/munge
    install -d -m 700 -o munge -g munge /var/lib/munge
    install -d -m 700 -o munge -g munge /var/log/munge
    if ! running munged; then
        say "starting munged"
        runuser -u munge -- munged --force 2>>"$LOG_DIR/munged.stderr" \
            || { log_tail "$MUNGE_LOG"; log_tail "$LOG_DIR/munged.stderr"; die "munged did not start (see $MUNGE_LOG)"; }
    fi
    local t
    for ((t = 0; t < TIMEOUT; t++)); do
        if timeout 10 munge -n 2>/dev/null | timeout 10 unmunge >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    log_tail "$MUNGE_LOG"
    die "munge -n | unmunge still fails after ${TIMEOUT} s (see $MUNGE_LOG)"
}

start_slurmctld() {
    if ! running slurmctld; then
        say "starting slurmctld (log: $CTLD_LOG)"
        slurmctld 2>>"$CTLD_LOG" || { log_tail "$CTLD_LOG"; die "slurmctld did not start (see $CTLD_LOG)"; }
    fi
    local t
    for ((t = 0; t < TIMEOUT; t++)); do
        ctld_up && return 0
        if ! running slurmctld; then
            log_tail "$CTLD_LOG"
            die "slurmctld exited (see $CTLD_LOG)"
        fi
        sleep 1
    done
    log_tail "$CTLD_LOG"
    die "scontrol ping does not say UP after ${TIMEOUT} s (see $CTLD_LOG)"
}

start_slurmd() {
    if ! running slurmd; then
        say "starting slurmd -N $NODE (log: $SLURMD_LOG)"
        slurmd -N "$NODE" 2>>"$SLURMD_LOG" || { log_tail "$SLURMD_LOG"; die "slurmd did not start (see $SLURMD_LOG)"; }
    fi
    local t state resumed=0
    for ((t = 0; t < TIMEOUT; t++)); do
        state=$(node_state)
        case $state in
            idle | mixed | allocated | completing) return 0 ;;
            drain* | down | fail*)
                # e.g. left drained or down by an earlier run: bring it back once slurmd is registered.
                if ((!resumed && t >= 3)); then
                    say "node is '$state'; resuming it"
                    scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
                    resumed=1
                fi
                ;;
        esac
        if ! running slurmd; then
            log_tail "$SLURMD_LOG"
            die "slurmd exited (see $SLURMD_LOG)"
        fi
        sleep 1
    done
    log_tail "$SLURMD_LOG"
    log_tail "$CTLD_LOG"
    die "node $NODE is '${state:-unknown}', not idle, after ${TIMEOUT} s (see $SLURMD_LOG and $CTLD_LOG)"
}

# Stops the processes named $1 (exact name): TERM, then KILL after the timeout.
stop_named() {
    local name=$1 t
    running "$name" || return 0
    say "stopping $name"
    pkill -TERM -x "$name" || true
    for ((t = 0; t < TIMEOUT * 5; t++)); do
        running "$name" || return 0
        sleep 0.2
    done
    say "$name still running after ${TIMEOUT} s; sending KILL"
    pkill -KILL -x "$name" || true
    sleep 0.5
    ! running "$name" || die "cannot stop $name"
}

# --- commands -----------------------------------------------------------------------------------

cmd_up() {
    need_root up
    install_packages
    write_config
    if ((CONFIG_CHANGED)) && { running slurmctld || running slurmd; }; then
        say "configuration changed; restarting slurmctld and slurmd"
        stop_named slurmd
        stop_named slurmctld
    fi
    start_munge
    start_slurmctld
    start_slurmd
    say "up: node $NODE $(node_state), partitions: $(sinfo -h -o '%P' | paste -sd ' ')"
    say "state dir $STATE_DIR, logs in $LOG_DIR"
}

cmd_down() {
    need_root down
    if running slurmctld && ctld_up; then
        local jobs
        jobs=$(squeue -h -t RUNNING,COMPLETING,CONFIGURING -o '%i' 2>/dev/null | paste -sd ' ')
        if [[ -n $jobs ]]; then
            say "cancelling running jobs: $jobs (pending jobs stay queued for the next 'up')"
            # shellcheck disable=SC2086  # a list of job ids
            scancel $jobs 2>/dev/null || true
            local t
            for ((t = 0; t < TIMEOUT; t++)); do
                [[ -z $(squeue -h -t RUNNING,COMPLETING,CONFIGURING -o '%i' 2>/dev/null) ]] && break
                sleep 1
            done
        fi
    fi
    stop_named slurmd
    stop_named slurmstepd
    stop_named slurmctld
    stop_named slurmscriptd
    stop_named munged
    say "down (packages stay installed; state in $STATE_DIR)"
}

cmd_status() {
    if ! command -v scontrol >/dev/null 2>&1; then
        say "down: Slurm is not installed (run: sudo $0 up)"
        return 1
    fi
    if ! ctld_up; then
        say "down: slurmctld does not answer (munged: $(running munged && echo running || echo stopped)," \
            "slurmctld: $(running slurmctld && echo running || echo stopped)," \
            "slurmd: $(running slurmd && echo running || echo stopped)); start it with: sudo $0 up"
        return 1
    fi
    sinfo
    echo
    squeue
    local state
    state=$(node_state)
    case $state in
        idle | mixed | allocated | completing) return 0 ;;
        *)
            say "node $NODE is '${state:-unknown}' (slurmd log: $SLURMD_LOG)"
            return 1
            ;;
    esac
}

usage() {
    echo "usage: $0 up|down|status" >&2
    exit 2
}

[[ $# -eq 1 ]] || usage
case $1 in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    -h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
    *) usage ;;
esac
