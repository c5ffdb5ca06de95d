# shellcheck shell=bash disable=SC2034
# JUWELS Booster: 936 nodes, 4x NVIDIA A100 40 GB and 2x AMD EPYC 7402 (48 cores) per node, x86-64, InfiniBand.
# Sourced by hpc/submit.sh (submission defaults) and by the job scripts (abc3d_env: the software environment).

ABC3D_PARTITION_DEFAULT=booster          # develbooster: up to 2 h, for tries
ABC3D_TIME_DEFAULT=06:00:00
ABC3D_GPUS_PER_NODE=4
ABC3D_CPUS_PER_TASK=12                   # 48 cores / 4 tasks, one task per GPU
ABC3D_ACCELERATOR=gpu
ABC3D_NEEDS_ACCOUNT=1
ABC3D_ARCH=x86_64
ABC3D_SRUN_BIND="--cpu-bind=v --accel-bind=gn --threads-per-core=1"

# shellcheck source=hpc/machines/jsc.sh
source "${ABC3D_HOME:?}/hpc/machines/jsc.sh"
