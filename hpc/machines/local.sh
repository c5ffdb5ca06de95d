# shellcheck shell=bash disable=SC2034
# A workstation with the local SLURM of hpc/local/slurm.sh: CPU only, 2 tasks (DDP over gloo) per "node".
# Sourced by hpc/submit.sh (submission defaults) and by the job scripts (abc3d_env: the software environment).

ABC3D_PARTITION_DEFAULT="batch"
ABC3D_TIME_DEFAULT=01:00:00
ABC3D_GPUS_PER_NODE=0                    # no GPU: ABC3D_TASKS_PER_NODE ranks on the CPU
ABC3D_TASKS_PER_NODE=2
ABC3D_CPUS_PER_TASK=1
ABC3D_ACCELERATOR=cpu
ABC3D_NEEDS_ACCOUNT=0

ABC3D_VENV=${ABC3D_VENV:-${ABC3D_HOME}/.venv}

abc3d_modules() { :; }                   # nothing to load on a workstation

abc3d_env() {
  # shellcheck disable=SC1091
  source "${ABC3D_VENV}/bin/activate"
  export MASTER_ADDR=127.0.0.1           # torch's store listens on all interfaces; keep it on loopback
  export OMP_NUM_THREADS=1
  export ABC3D_SRUN_ARGS=""
}
