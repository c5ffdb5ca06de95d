# shellcheck shell=bash disable=SC2034
# JUWELS Booster: 936 nodes, 4x NVIDIA A100 40 GB and 2x AMD EPYC 7402 (48 cores) per node, x86-64, InfiniBand.
# Sourced by hpc/submit.sh (submission defaults) and by the job scripts (abc3d_env: the software environment).

ABC3D_PARTITION_DEFAULT=booster          # develbooster: up to 2 h, for tries
ABC3D_TIME_DEFAULT=06:00:00
ABC3D_GPUS_PER_NODE=4
ABC3D_CPUS_PER_TASK=12                   # 48 cores / 4 tasks, one task per GPU
ABC3D_ACCELERATOR=gpu
ABC3D_NEEDS_ACCOUNT=1

abc3d_modules() {                        # the JSC software stack the venv was built against
  module --force purge
  module load Stages/2025 GCC Python
}

abc3d_env() {
  abc3d_modules
  # Compute nodes are offline: the venv was built on a login node with hpc/setup_env.sh (x86-64 build).
  ABC3D_VENV=${ABC3D_VENV:-${ABC3D_HOME}/.venv-x86_64}
  # shellcheck disable=SC1091
  source "${ABC3D_VENV}/bin/activate"
  # Rendezvous over InfiniBand: the first node's hostname with the "i" suffix.
  MASTER_ADDR="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)i"
  export MASTER_ADDR
  export CUDA_VISIBLE_DEVICES=0,1,2,3
  export NCCL_SOCKET_IFNAME=ib0 NCCL_IB_TIMEOUT=50 NCCL_IB_RETRY_CNT=10 UCX_RC_TIMEOUT=4s NCCL_ASYNC_ERROR_HANDLING=1
  export SRUN_CPUS_PER_TASK="${SLURM_CPUS_PER_TASK:-${ABC3D_CPUS_PER_TASK}}"
  export OMP_NUM_THREADS="${SRUN_CPUS_PER_TASK}"
  # Each task on the cores next to its GPU.
  export ABC3D_SRUN_ARGS="--cpu-bind=v --accel-bind=gn --threads-per-core=1"
}
