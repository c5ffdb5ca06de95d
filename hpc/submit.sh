#!/usr/bin/env bash
# Submit abc3d batch jobs to SLURM on JUWELS Booster, JUPITER or a workstation with a local SLURM.
#
#   hpc/submit.sh [options] STEP
#
# STEP
#   pretrain              pretraining (the run notebook nbs/runs/pretrain.ipynb, one task per GPU)
#   finetune              one fine-tuning job per task (--tasks), each after --after if given
#   predict               plan tiles, then one array job over them, then the merge + carbon job
#   chips                 build the chip store with dask, one worker per CPU of the node
#   pipeline              pretrain -> fine-tune every task -> prediction array -> merge and carbon totals,
#                         chained with --dependency=afterok
# Options
#   --machine NAME        juwels | jupiter | local (default: $ABC3D_MACHINE, else local)
#   --account NAME        compute project to charge (required on juwels and jupiter)
#   --partition NAME      default: the machine's (booster; batch on local)
#   --time HH:MM:SS       time limit of each training job (default: the machine's)
#   --nodes N             nodes of each training job (default 1)
#   --gpus N              GPUs (= training tasks) per node (default: the machine's; local: 2 CPU ranks)
#   --run DIR             run folder: records, runs, logs, maps (default: $ABC3D_HOME/data/hpc_run)
#   --data DIR            folder with the landscape and chips.zarr (default: $ABC3D_HOME/data)
#   --tasks LIST          tasks to fine-tune, comma-separated, or all (default: all, the task table of abc3d.tasks)
#   --tile-px N           core edge of a prediction tile in pixels (default 2048)
#   --tiles-per-task N    tiles one array task predicts at once, one per GPU (default: the GPUs per node; local: 1)
#   --after JOBID         start the first job after this one succeeded
#   --pretrain KEY=VALUE  a parameter of the pretraining notebook (repeatable), e.g. epochs=100
#   --finetune KEY=VALUE  a parameter of the fine-tuning notebooks (repeatable)
#   --test-only           only ask SLURM whether the jobs would be accepted (sbatch --test-only); submit nothing
set -euo pipefail

ABC3D_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ABC3D_HOME
machine=${ABC3D_MACHINE:-local}
account="" partition="" time_limit="" nodes=1 gpus="" after="" test_only=0
run="${ABC3D_HOME}/data/hpc_run" data="${ABC3D_HOME}/data"
tasks=all
tile_px=2048 tiles_per_task=""
pretrain_params=() finetune_params=()

die() { echo "hpc/submit.sh: $*" >&2; exit 2; }
need() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

step=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --machine) need "$@"; machine=$2; shift 2 ;;
    --account) need "$@"; account=$2; shift 2 ;;
    --partition) need "$@"; partition=$2; shift 2 ;;
    --time) need "$@"; time_limit=$2; shift 2 ;;
    --nodes) need "$@"; nodes=$2; shift 2 ;;
    --gpus) need "$@"; gpus=$2; shift 2 ;;
    --run) need "$@"; run=$2; shift 2 ;;
    --data) need "$@"; data=$2; shift 2 ;;
    --tasks) need "$@"; tasks=$2; shift 2 ;;
    --tile-px) need "$@"; tile_px=$2; shift 2 ;;
    --tiles-per-task) need "$@"; tiles_per_task=$2; shift 2 ;;
    --after) need "$@"; after=$2; shift 2 ;;
    --pretrain) need "$@"; [[ "$2" == *=* ]] || die "--pretrain takes KEY=VALUE, not '$2'"; pretrain_params+=("$2"); shift 2 ;;
    --finetune) need "$@"; [[ "$2" == *=* ]] || die "--finetune takes KEY=VALUE, not '$2'"; finetune_params+=("$2"); shift 2 ;;
    --test-only) test_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$step" ]] || die "one STEP only, got '$step' and '$1'"; step=$1; shift ;;
  esac
done
[[ -n "$step" ]] || die "give a STEP: pretrain, finetune, predict, chips or pipeline (see --help)"
[[ -f "${ABC3D_HOME}/hpc/machines/${machine}.sh" ]] || die "unknown machine '${machine}': one of juwels, jupiter, local"
for n in "$nodes" "$tile_px" ${gpus:+"$gpus"} ${tiles_per_task:+"$tiles_per_task"}; do
  [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || die "'$n' is not a positive whole number"
done
# shellcheck source=/dev/null
source "${ABC3D_HOME}/hpc/machines/${machine}.sh"
export ABC3D_MACHINE=$machine
if [[ "${ABC3D_NEEDS_ACCOUNT}" == 1 && -z "$account" && "$test_only" == 0 ]]; then die "--account is required on ${machine}"; fi
partition=${partition:-$ABC3D_PARTITION_DEFAULT}
time_limit=${time_limit:-$ABC3D_TIME_DEFAULT}
if [[ "${ABC3D_GPUS_PER_NODE}" -gt 0 ]]; then per_node=${gpus:-$ABC3D_GPUS_PER_NODE}; else per_node=${gpus:-$ABC3D_TASKS_PER_NODE}; fi
tiles_per_task=${tiles_per_task:-$(( ABC3D_GPUS_PER_NODE > 0 ? per_node : 1 ))}
mkdir -p "${run}/logs" "${run}/jobs" "${run}/notebooks"
run=$(cd "$run" && pwd); data=$(cd "$data" 2>/dev/null && pwd || echo "$data")
abc3d_cmd=()                                             # the machine's venv (hpc/machines/<machine>.sh), the PATH's, the project's
for c in "${ABC3D_VENV}/bin/abc3d" "$(command -v abc3d || true)" "${ABC3D_HOME}/.venv/bin/abc3d"; do
  if [[ -n "$c" && -x "$c" ]]; then abc3d_cmd=("$c"); break; fi
done
need_abc3d() { [[ ${#abc3d_cmd[@]} -gt 0 ]] || die "no abc3d command to $1: run hpc/setup_env.sh (or make install) first"; }
if [[ "$tasks" == all ]]; then
  need_abc3d "list the tasks"; tasks=$("${abc3d_cmd[@]}" tasks --names) || die "could not list the tasks with ${abc3d_cmd[*]}"
fi

common=(--partition="$partition" --chdir="$run")
if [[ -n "$account" ]]; then common+=(--account="$account"); fi
gres() { if [[ "${ABC3D_GPUS_PER_NODE}" -gt 0 ]]; then echo "--gres=gpu:$1"; fi; }
train_res=(--nodes="$nodes" --ntasks-per-node="$per_node" --cpus-per-task="$ABC3D_CPUS_PER_TASK" --time="$time_limit")
if [[ "${ABC3D_GPUS_PER_NODE}" -gt 0 ]]; then train_res+=("$(gres "$per_node")"); fi

# sbatch ARGS... SCRIPT -> prints the job id (or, with --test-only, SLURM's answer)
submit() {
  local out
  if [[ "$test_only" == 1 ]]; then
    local args=()
    for a in "$@"; do [[ "$a" == --dependency=* ]] || args+=("$a"); done
    out=$(sbatch --test-only "${common[@]}" "${args[@]}" 2>&1) || { echo "$out" >&2; die "SLURM would refuse: ${args[*]}"; }
    echo "$out" >&2; echo "test-only"
  else
    out=$(sbatch --parsable "${common[@]}" "$@") || die "sbatch failed: $*"
    echo "${out%%;*}"
  fi
}
dep() { if [[ -n "$1" ]]; then echo "--dependency=afterok:$1"; else echo "--dependency="; fi; }
record() { printf '%s\t%s\n' "$1" "$2" >> "${run}/jobs/jobs.tsv"; echo "$1: job $2" >&2; }

# params FILE KEY=VALUE... : one KEY<TAB>VALUE line each (read by jobs/train.sbatch as notebook parameters)
params() {
  local file=$1; shift
  : > "$file"
  for kv in "$@"; do printf '%s\t%s\n' "${kv%%=*}" "${kv#*=}" >> "$file"; done
}

submit_pretrain() {   # after -> job id
  params "${run}/jobs/pretrain.params" "store=${data}/chips.zarr" "out=${run}/pretrain" "accelerator=${ABC3D_ACCELERATOR}" \
    "resume=true" "${pretrain_params[@]}"
  local id
  id=$(ABC3D_KIND=pretrain ABC3D_RECORD="${run}/notebooks/pretrain.ipynb" ABC3D_PARAMS="${run}/jobs/pretrain.params" \
       submit "${train_res[@]}" --job-name=abc3d-pretrain --output="${run}/logs/%x-%j.out" "$(dep "$1")" \
       "${ABC3D_HOME}/hpc/jobs/train.sbatch")
  record pretrain "$id"; echo "$id"
}

submit_finetune() {   # after -> job ids, colon-separated
  local ids=() t id
  IFS=',' read -r -a list <<< "$tasks"
  for t in "${list[@]}"; do
    [[ "$t" =~ ^[a-z_]+$ ]] || die "bad task name '$t'"
    params "${run}/jobs/finetune_${t}.params" "store=${data}/chips.zarr" "out=${run}/finetune_${t}_full" "task=${t}" \
      "pretrained=${run}/pretrain/encoder.safetensors" "accelerator=${ABC3D_ACCELERATOR}" "resume=true" "${finetune_params[@]}"
    id=$(ABC3D_KIND=finetune ABC3D_RECORD="${run}/notebooks/finetune_${t}.ipynb" ABC3D_PARAMS="${run}/jobs/finetune_${t}.params" \
         submit "${train_res[@]}" --job-name="abc3d-ft-${t}" --output="${run}/logs/%x-%j.out" "$(dep "$1")" \
         "${ABC3D_HOME}/hpc/jobs/train.sbatch")
    record "finetune_${t}" "$id"; ids+=("$id")
  done
  local IFS=:; echo "${ids[*]}"
}

submit_predict() {    # after -> merge job id
  local tiles="${run}/predict" n=8 id mid
  IFS=',' read -r -a list <<< "$tasks"
  : > "${run}/jobs/models.txt"
  for t in "${list[@]}"; do echo "${run}/finetune_${t}_full/model.safetensors" >> "${run}/jobs/models.txt"; done
  if [[ -f "${data}/landscape/landscape.json" ]]; then
    need_abc3d "plan the tiles"
    "${abc3d_cmd[@]}" tiles plan "$tiles" --landscape "${data}/landscape" --tile-px "$tile_px" >&2
    n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["tiles"]))' "${tiles}/tiles.json")
  elif [[ "$test_only" == 0 ]]; then die "no landscape at ${data}/landscape to plan the tiles of"; fi
  local tasks_n=$(( (n + tiles_per_task - 1) / tiles_per_task ))
  local res=(--nodes=1 --ntasks=1 --cpus-per-task="$(( ABC3D_CPUS_PER_TASK * tiles_per_task ))" --time=02:00:00)
  if [[ "${ABC3D_GPUS_PER_NODE}" -gt 0 ]]; then res+=("$(gres "$tiles_per_task")"); fi
  id=$(ABC3D_TILES="$tiles" ABC3D_MODELS="${run}/jobs/models.txt" ABC3D_TILES_PER_TASK="$tiles_per_task" \
       submit "${res[@]}" --array="0-$(( tasks_n - 1 ))" --job-name=abc3d-predict --output="${run}/logs/%x-%A_%a.out" \
       "$(dep "$1")" "${ABC3D_HOME}/hpc/jobs/predict_tile.sbatch")
  record predict "$id"
  mid=$(ABC3D_TILES="$tiles" ABC3D_LANDSCAPE="${data}/landscape" \
        submit --nodes=1 --ntasks=1 --cpus-per-task="$ABC3D_CPUS_PER_TASK" --time=01:00:00 --job-name=abc3d-merge \
        --output="${run}/logs/%x-%j.out" "$(dep "$id")" "${ABC3D_HOME}/hpc/jobs/merge.sbatch")
  record merge "$mid"; echo "$mid"
}

submit_chips() {
  local id
  id=$(ABC3D_LANDSCAPE="${data}/landscape" ABC3D_STORE="${data}/chips.zarr" \
       submit --nodes=1 --ntasks=1 --cpus-per-task="$(( ABC3D_CPUS_PER_TASK * per_node ))" --time="$time_limit" \
       --job-name=abc3d-chips --output="${run}/logs/%x-%j.out" "$(dep "$1")" "${ABC3D_HOME}/hpc/jobs/chips.sbatch")
  record chips "$id"; echo "$id"
}

case "$step" in
  pretrain) submit_pretrain "$after" ;;
  finetune) submit_finetune "$after" ;;
  predict) submit_predict "$after" ;;
  chips) submit_chips "$after" ;;
  pipeline)
    p=$(submit_pretrain "$after")
    f=$(submit_finetune "$([[ "$test_only" == 1 ]] && echo "" || echo "$p")")
    submit_predict "$([[ "$test_only" == 1 ]] && echo "" || echo "$f")" ;;
  *) die "unknown STEP '$step': pretrain, finetune, predict, chips or pipeline" ;;
esac
