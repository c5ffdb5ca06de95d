# shellcheck shell=bash disable=SC2034
# JUPITER Booster: 4x NVIDIA GH200 (Grace 72-core CPU + H100 96 GB) per node, aarch64, InfiniBand.
# Sourced by hpc/submit.sh (submission defaults) and by the job scripts (abc3d_env: the software environment).

ABC3D_PARTITION_DEFAULT=booster
ABC3D_TIME_DEFAULT=06:00:00
ABC3D_GPUS_PER_NODE=4
ABC3D_CPUS_PER_TASK=72                   # one Grace CPU per task, one task per GPU
ABC3D_ACCELERATOR=gpu
ABC3D_NEEDS_ACCOUNT=1

abc3d_modules() {                        # the JSC software stack the venv was built against
  module --force purge
  module load Stages/2025 GCC Python
}

abc3d_env() {
  abc3d_modules
  # An aarch64 venv, built on a JUPITER login node with hpc/setup_env.sh (x86-64 wheels do not run here).
  ABC3D_VENV=${ABC3D_VENV:-${ABC3D_HOME}/.venv-aarch64}
  # shellcheck disable=SC1091
  source "${ABC3D_VENV}/bin/activate"
  MASTER_ADDR="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)i"
  export MASTER_ADDR
  export CUDA_VISIBLE_DEVICES=0,1,2,3
  export NCCL_SOCKET_IFNAME=ib0 NCCL_IB_TIMEOUT=50 NCCL_IB_RETRY_CNT=10 UCX_RC_TIMEOUT=4s NCCL_ASYNC_ERROR_HANDLING=1
  export SRUN_CPUS_PER_TASK="${SLURM_CPUS_PER_TASK:-${ABC3D_CPUS_PER_TASK}}"
  export OMP_NUM_THREADS="${SRUN_CPUS_PER_TASK}"
  export ABC3D_SRUN_ARGS="--cpu-bind=v --accel-bind=gn"
}
