# shellcheck shell=bash disable=SC2034
# JUPITER Booster: 4x NVIDIA GH200 (Grace 72-core CPU + H100 96 GB) per node, aarch64, InfiniBand.
# Sourced by hpc/submit.sh (submission defaults) and by the job scripts (abc3d_env: the software environment).

ABC3D_PARTITION_DEFAULT=booster
ABC3D_TIME_DEFAULT=06:00:00
ABC3D_GPUS_PER_NODE=4
ABC3D_CPUS_PER_TASK=72                   # one Grace CPU per task, one task per GPU
ABC3D_ACCELERATOR=gpu
ABC3D_NEEDS_ACCOUNT=1
ABC3D_ARCH=aarch64                       # x86-64 wheels do not run here: a venv built on a JUPITER login node
ABC3D_SRUN_BIND="--cpu-bind=v --accel-bind=gn"

# shellcheck source=hpc/machines/jsc.sh
source "${ABC3D_HOME:?}/hpc/machines/jsc.sh"
