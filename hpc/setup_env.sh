#!/usr/bin/env bash
# Build the project's Python environment on a login node (compute nodes have no internet) and register it as a
# Jupyter kernel, so that JupyterLab at JSC runs the explorer notebooks on the same environment as the batch jobs.
#
#   hpc/setup_env.sh [--machine juwels|jupiter|local] [--venv DIR] [--kernel-only] [--kernel-dir DIR]
#
# JUWELS Booster is x86-64 and JUPITER aarch64: build one venv on each machine's login node
# (default .venv-x86_64 / .venv-aarch64 in the project folder; the job scripts look there).
#   --venv DIR        where to build it (default: the machine's, see hpc/machines/<machine>.sh)
#   --kernel-only     only (re)register the kernel of an existing venv
#   --kernel-dir DIR  where kernels are found (default: ~/.local/share/jupyter/kernels, which JupyterLab at JSC reads)
set -euo pipefail
ABC3D_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ABC3D_HOME
machine=${ABC3D_MACHINE:-local} venv="" kernel_only=0 kernel_dir="${HOME}/.local/share/jupyter/kernels"
die() { echo "hpc/setup_env.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --machine) [[ $# -ge 2 ]] || die "--machine needs a value"; machine=$2; shift 2 ;;
    --venv) [[ $# -ge 2 ]] || die "--venv needs a value"; venv=$2; shift 2 ;;
    --kernel-only) kernel_only=1; shift ;;
    --kernel-dir) [[ $# -ge 2 ]] || die "--kernel-dir needs a value"; kernel_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ -f "${ABC3D_HOME}/hpc/machines/${machine}.sh" ]] || die "unknown machine '${machine}': one of juwels, jupiter, local"
# shellcheck source=/dev/null
source "${ABC3D_HOME}/hpc/machines/${machine}.sh"
arch=$(uname -m)
case "$machine" in
  juwels) [[ "$arch" == x86_64 ]] || die "JUWELS Booster is x86-64; this is ${arch}: run this on a JUWELS login node" ;;
  jupiter) [[ "$arch" == aarch64 ]] || die "JUPITER is aarch64; this is ${arch}: run this on a JUPITER login node" ;;
esac
venv=${venv:-${ABC3D_VENV}}                 # the machine's venv, where the job scripts look
abc3d_modules

if [[ "$kernel_only" == 0 ]]; then
  python3 -m venv "$venv"
  "${venv}/bin/python" -m pip install -q --upgrade pip setuptools wheel
  # torch first and pinned (the CUDA build from PyPI on the GPU machines), then the project with the same pin
  "${venv}/bin/python" -m pip install -q -c "${ABC3D_HOME}/constraints.txt" torch==2.13.0
  "${venv}/bin/python" -m pip install -q -c "${ABC3D_HOME}/constraints.txt" -e "${ABC3D_HOME}[dev]"
fi
[[ -x "${venv}/bin/python" ]] || die "no venv at ${venv}: run without --kernel-only first"

# The kernel starts through a wrapper that loads the same modules and venv as the job scripts.
name="abc3d-${machine}"
dir="${kernel_dir}/${name}"
mkdir -p "$dir"
cat > "${dir}/kernel.sh" <<WRAP
#!/usr/bin/env bash
# abc3d kernel (${machine}, ${arch}): the environment of the batch jobs
export ABC3D_HOME='${ABC3D_HOME}' ABC3D_MACHINE='${machine}'
# shellcheck source=/dev/null
source "\${ABC3D_HOME}/hpc/machines/\${ABC3D_MACHINE}.sh"
abc3d_modules
exec '${venv}/bin/python' -m ipykernel_launcher "\$@"
WRAP
chmod +x "${dir}/kernel.sh"
"${venv}/bin/python" - "$dir" "$name" "$machine" "$arch" <<'PY'
import json, sys
d, name, machine, arch = sys.argv[1:]
spec = {'argv': [f'{d}/kernel.sh', '-f', '{connection_file}'], 'display_name': f'abc3d ({machine}, {arch})', 'language': 'python',
        'metadata': {'debugger': True}}
open(f'{d}/kernel.json', 'w').write(json.dumps(spec, indent=1))
PY
echo "kernel '${name}' registered in ${dir} (python: ${venv}/bin/python); choose 'abc3d (${machine}, ${arch})' in JupyterLab"
