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
