"""Never a wrong map with exit code 0, as a user meets it through the command line: reuse keyed on the inputs,
non-negative maps, refused arguments that write nothing, a failed rebuild that keeps the good store, relative
paths from the working directory, and inputs unlike the training data said aloud.
(The matrix of malformed inputs: test_badinput_matrix.py; the store's integrity: nbs/data/14a_store.)"""
import json, os, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pytest, rasterio
from abc3d.tasks import TASKS

ABC3D = str(Path(sys.executable).parent/'abc3d')
ENV = {**os.environ, 'ABC3D_PROGRESS': '0'}


def run(*args, cwd=None):
    return subprocess.run([ABC3D, *map(str, args)], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=1500)


@pytest.fixture(scope='module')
def model(small_store, tmp_path_factory):
    "A model of every task after a few steps (its maps are poor; they must still be physical)."
    out = tmp_path_factory.mktemp('rel')/'ft'
    r = run('finetune', '--store', small_store, '--out', out, '--pretrained', 'none', '--max-steps', 3, '--batch-size', 4)
    assert r.returncode == 0, r.stderr[-2000:]
    return out/'model.safetensors'


@pytest.fixture
def land(small_landscape, tmp_path):
    "A copy of the small landscape that a test may change."
    return Path(shutil.copytree(small_landscape, tmp_path/'landscape'))


def _maps(folder):
    out = {}
    for f in sorted(Path(folder).rglob('*.tif')):
        with rasterio.open(f) as src: out[str(f.relative_to(folder))] = src.read()
    return out


def test_reuse_keys_on_the_input_files(model, land, tmp_path):
    out = tmp_path/'pred'
    first = run('predict', '--model', model, '--landscape', land, '--out', out)
    assert first.returncode == 0 and 'prediction: written' in first.stdout, first.stderr[-2000:]
    before = _maps(out/'maps')
    again = run('predict', '--model', model, '--landscape', land, '--out', out)
    assert 'prediction: reused' in again.stdout
    dem = next((land/'temperate_1'/'dem').glob('*.tif'))
    with rasterio.open(dem, 'r+', IGNORE_COG_LAYOUT_BREAK='YES') as d: d.write(d.read() + 400)    # the terrain changes
    changed = run('predict', '--model', model, '--landscape', land, '--out', out)
    assert changed.returncode == 0 and 'prediction: written' in changed.stdout
    after = _maps(out/'maps')
    assert not np.array_equal(before['temperate_1/agbd.tif'], after['temperate_1/agbd.tif'])   # not the stale map
    assert np.array_equal(before['tropical_moist_0/agbd.tif'], after['tropical_moist_0/agbd.tif'], equal_nan=True)


def test_maps_and_carbon_are_never_negative(model, land, tmp_path):
    out = tmp_path/'pred'
    assert run('predict', '--model', model, '--landscape', land, '--out', out).returncode == 0
    tasks = json.loads(Path(model).with_suffix('.json').read_text())['config']['finetune']['tasks']   # a task without training labels has no head
    regression = [t for t, spec in TASKS.items() if not spec.is_classes]     # every task with a value map
    mapped = [t for t in regression if t in tasks]
    assert {'agbd', 'canopy_height', 'canopy_profile'} <= set(mapped), tasks
    for region in ('tropical_moist_0', 'temperate_1'):
        assert sorted(p.stem for p in (out/'maps'/region).glob('*.tif') if p.stem in regression) == sorted(mapped)   # a map of each, and only of those
        for f in mapped:
            with rasterio.open(out/'maps'/region/f'{f}.tif') as src: a = src.read()
            assert np.isfinite(a).any() and np.nanmin(a) >= 0, (region, f, np.nanmin(a))
    c = run('carbon', out, '--landscape', land)
    assert c.returncode == 0, c.stderr[-2000:]
    import pandas as pd
    tot = pd.read_csv(out/'carbon'/'totals.csv')
    assert (tot.total_MgC >= 0).all()
    for f in (out/'carbon').rglob('*.tif'):
        if f.stem.endswith('_std'): continue
        with rasterio.open(f) as src: a = src.read()
        assert np.nanmin(a) >= 0, f


def test_refused_arguments_write_nothing(model, land, tmp_path):
    r = run('predict', '--model', model, '--landscape', land, '--out', tmp_path/'p', '--batch-size', -3)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and '--batch-size: must be at least 1, not -3' in r.stderr
    assert not (tmp_path/'p').exists()
    r = run('chips', '--landscape', land, '--out', tmp_path/'c.zarr', '--fractions', '0.5,0.6,0.2')
    assert r.returncode == 2 and 'add up to 1' in r.stderr and not (tmp_path/'c.zarr').exists()


def test_failed_rebuild_keeps_the_good_store(land, tmp_path):
    store = tmp_path/'c.zarr'
    assert run('chips', '--landscape', land, '--out', store, '--block', 1).returncode == 0
    ok = run('chips', '--landscape', land, '--out', store, '--verify')
    assert ok.returncode == 0 and 'chip store verified' in ok.stdout
    tdx = next((land/'temperate_1'/'tandemx').glob('*.tif'))
    tdx.write_bytes(tdx.read_bytes()[:500])                               # an input is damaged after the store was built
    r = run('chips', '--landscape', land, '--out', store, '--block', 2, '--overwrite')
    assert r.returncode == 2 and str(tdx) in r.stderr and r.stderr.count('\n') == 1, r.stderr
    assert run('chips', '--landscape', land, '--out', store, '--verify').returncode == 0     # the old store, whole
    from abc3d.data.store import open_store
    assert open_store(store)[1]['plan']['block'] == 1


def test_relative_paths_are_the_working_directorys(land, tmp_path):
    os.symlink(land, tmp_path/'here')
    r = run('chips', '--landscape', 'here', '--out', 'rel.zarr', '--block', 1, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path/'rel.zarr'/'zarr.json').exists()
    r = run('catalog', '--root', 'here', '--check-files', cwd=tmp_path)
    assert r.returncode == 0 and 'every file opened' in r.stdout, r.stderr


def test_inputs_unlike_the_training_data_are_flagged(model, land, tmp_path):
    for f in land.glob('*/hls/*.B0*.tif'):                                # an optical sensor three times as bright
        with rasterio.open(f, 'r+', IGNORE_COG_LAYOUT_BREAK='YES') as d:
            a = d.read(); d.write(np.where(a == d.nodata, a, np.clip(a.astype('int32') * 3, 0, 32000)).astype(a.dtype))
    out = tmp_path/'pred'
    r = run('predict', '--model', model, '--landscape', land, '--out', out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "is unlike the model's training data" in r.stderr
    item = json.loads((out/'stac'/'temperate_1.json').read_text())
    assert item['properties']['abc3d:ood']['flagged_share'] > 0.5 and 'ood' in item['assets']
