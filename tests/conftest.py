import pyproj  # noqa: F401  (bind PROJ before any eccodes import; see abc3d/__init__.py)
import os
import pytest

os.environ.setdefault('ABC3D_PROGRESS', '0')


@pytest.fixture(scope='session')
def small_landscape(tmp_path_factory):
    "Two small regions (192 px: nine 64 px chips each), four dates: the landscape most tests share."
    from abc3d.sim.landscape import build_landscape
    from abc3d.sim.truth import RegionSpec
    root = tmp_path_factory.mktemp('land')/'landscape'
    build_landscape(root, regions=[RegionSpec('tropical_moist_0', 'tropical_moist', size_px=192),
                                   RegionSpec('temperate_1', 'temperate', size_px=192)], seed=3, n_dates=4)
    return root


@pytest.fixture(scope='session')
def small_store(small_landscape):
    from abc3d.data.chips import build_chips
    out = small_landscape.parent/'chips.zarr'
    build_chips(small_landscape, out, block=1)
    return out


@pytest.fixture(scope='session')
def default_store(tmp_path_factory):
    "The chip store of the default landscape (what `abc3d run` builds): two regions of 384 px, six dates."
    from abc3d.sim.landscape import build_landscape
    from abc3d.data.chips import build_chips
    root = tmp_path_factory.mktemp('default')
    build_landscape(root/'landscape')
    build_chips(root/'landscape', root/'chips.zarr')
    return root/'chips.zarr'


@pytest.fixture(scope='session')
def main_job(tmp_path_factory):
    "`abc3d run` on small regions (192 px, 2 dates) with every task and a few optimizer steps per run: (data folder, stdout)."
    import subprocess, sys
    from pathlib import Path
    root = tmp_path_factory.mktemp('main')
    out = subprocess.run([str(Path(sys.executable).parent/'abc3d'), 'run', '--out', str(root/'run'), '--data', str(root), '--size-px', '192',
                          '--dates', '2', '--pretrain-steps', '3', '--finetune-steps', '3'],
                         capture_output=True, text=True, env={**os.environ, 'ABC3D_PROGRESS': '0'}, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return root, out.stdout
