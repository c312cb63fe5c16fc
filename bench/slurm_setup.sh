#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for bench/slurm_smoke.sh (issue #20): installs
# Debian's slurm-wlm and munge (apt-get; run as root) where they are missing, writes
# /etc/slurm/slurm.conf for this host (its CPUs and memory from `slurmd -C`, less a margin),
# and starts munged, slurmctld and slurmd directly (no systemd: works in a container).
#
# No accounting database: AccountingStorageType=accounting_storage/none, so `sacct` has
# nothing to report; jobs stay visible to `squeue` for MinJobAge=3600 s after they end, and
# the Snakemake SLURM executor queries them with squeue (the profile
# workflows/profiles/slurm-local sets slurm-status-command: squeue).
#
#   sudo bench/slurm_setup.sh          # install (first time), configure, start
#   bench/slurm_setup.sh --stop        # stop the three daemons
# Environment: SLURM_PARTITION (default main), SLURM_MEM_MARGIN_MB (default 2048: memory
# left to the host and the controller), SLURM_LOG_DIR (default /var/log/slurm).
set -euo pipefail

PARTITION=${SLURM_PARTITION:-main}
MARGIN=${SLURM_MEM_MARGIN_MB:-2048}
LOGDIR=${SLURM_LOG_DIR:-/var/log/slurm}
CONF=/etc/slurm/slurm.conf

stop() {
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
        if [[ -s $pidfile ]]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
}

if [[ ${1:-} == --stop ]]; then
    stop
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm_setup.sh: run as root (it installs packages and starts daemons)" >&2
    exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends slurm-wlm munge
fi

# munge: the key the package made (or a new one), then the daemon as the munge user
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 20); do munge -n >/dev/null 2>&1 && break; sleep 0.5; done
fi
munge -n | unmunge >/dev/null

# slurm.conf: this host, its CPUs and memory (slurmd -C) less the margin
HOST=$(hostname -s)
NODE=$(slurmd -C | head -1)
MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE")
MEM=$((MEM - MARGIN))
NODE=$(sed "s/RealMemory=[0-9]*/RealMemory=$MEM/; s/^NodeName=[^ ]*/NodeName=$HOST/" <<<"$NODE")
install -d -m 0755 /etc/slurm "$LOGDIR" /var/spool/slurmctld /var/spool/slurmd
cat >"$CONF" <<EOF
# single-node test cluster written by bench/slurm_setup.sh
ClusterName=contig
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
# no cgroups, no systemd: track job processes by their parent ids
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# finished jobs stay in squeue this long (the executor's status queries need >= 120 s;
# bench/slurm_smoke.sh lists the run's jobs after it)
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
$NODE State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

if scontrol ping >/dev/null 2>&1; then
    scontrol reconfigure
else
    /usr/sbin/slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
    /usr/sbin/slurmd
fi
for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        break
    fi
    sleep 1
done
scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
sinfo
state=$(sinfo -h -o %t | head -1)
if [[ ! $state =~ ^(idle|mix|alloc) ]]; then
    echo "slurm_setup.sh: node $HOST is '$state' (see $LOGDIR/slurmd.log, slurmctld.log)" >&2
    exit 1
fi
echo "SLURM ready: partition $PARTITION on $HOST ($(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$NODE") CPUs, ${MEM} MB)"
