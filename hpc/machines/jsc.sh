# shellcheck shell=bash
# The JSC GPU machines' shared environment, sourced by juwels.sh and jupiter.sh after they set ABC3D_ARCH and
# ABC3D_SRUN_BIND: modules, the venv of the machine's architecture, the rendezvous over InfiniBand, NCCL and
# CPU binding.

# Compute nodes are offline: the venv of this architecture was built on a login node with hpc/setup_env.sh.
ABC3D_VENV=${ABC3D_VENV:-${ABC3D_HOME}/.venv-${ABC3D_ARCH}}

abc3d_modules() {                        # the JSC software stack the venv was built against
  module --force purge
  module load Stages/2025 GCC Python
}

abc3d_env() {
  abc3d_modules
  # shellcheck disable=SC1091
  source "${ABC3D_VENV}/bin/activate"
  # Rendezvous over InfiniBand: the first node's hostname with the "i" suffix.
  MASTER_ADDR="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)i"
  export MASTER_ADDR
  export CUDA_VISIBLE_DEVICES=0,1,2,3
  export NCCL_SOCKET_IFNAME=ib0 NCCL_IB_TIMEOUT=50 NCCL_IB_RETRY_CNT=10 UCX_RC_TIMEOUT=4s NCCL_ASYNC_ERROR_HANDLING=1
  # Slurm 22.05+ no longer hands --cpus-per-task from sbatch to srun
  export SRUN_CPUS_PER_TASK="${SLURM_CPUS_PER_TASK:-${ABC3D_CPUS_PER_TASK}}"
  export OMP_NUM_THREADS="${SRUN_CPUS_PER_TASK}"
  export ABC3D_SRUN_ARGS="${ABC3D_SRUN_BIND}"   # each task on the cores next to its GPU
}
