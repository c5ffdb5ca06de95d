"Integration tests of the chip store: split, resume after a failure, reuse, bad input."
import json, shutil
import numpy as np
import pytest
import rasterio
import zarr
import abc3d.data.chips as chips
from abc3d.data.chips import build_chips
from abc3d.data.store import open_store, summary
from abc3d.core import DataError


def _arrays(path):
    root = zarr.open_group(path, mode='r')
    out = {}
    def visit(g, prefix=''):
        for k, v in g.members():
            if isinstance(v, zarr.Group): visit(v, f'{prefix}{k}/')
            else: out[f'{prefix}{k}'] = v[:]
    visit(root)
    return out


def test_store_content(small_store):
    s = summary(small_store)
    assert s['chips'] == 18 and s['chip_size'] == 64
    assert all(s['split'][k] > 0 for k in ('train', 'val', 'test'))
    root, meta = open_store(small_store)
    hls = root['hls/data']
    assert hls.shape == (18, 4, 6, 64, 64)
    assert hls.chunks == (8, 4, 1, 64, 64)                 # one band per chunk: a band subset decodes alone
    assert hls.shards == (64, 4, 6, 64, 64)
    m = root['hls/mask'][:]
    assert 0.05 < 1 - m.mean() < 0.9                       # clouds hide part of the dates, not all
    refl = root['hls/data'][:][np.broadcast_to(m, hls.shape)]
    assert np.isfinite(refl).all() and 0 <= np.median(refl) <= 0.6
    assert root['era5_land/data'].shape == (18, 12, 4)
    t2m = root['era5_land/data'][:, :, 0]
    assert 250 < t2m.min() and t2m.max() < 320            # kelvin
    gedi = root['gedi_l4a/mask'][:]
    assert 0 < gedi.mean() < 0.2                            # sparse tracks
    assert np.isfinite(root['gedi_l4a/data'][:][:, :, :1][gedi]).all()
    st = meta['modalities']['hls']
    assert len(st['mean']) == 6 and all(s > 0 for s in st['std'])
    assert meta['modalities']['hls']['wavelengths'][3] == pytest.approx(0.865)


def test_split_is_by_spatial_blocks(small_landscape, tmp_path):
    out = build_chips(small_landscape, tmp_path/'b2.zarr', block=2)
    root, _ = open_store(tmp_path/'b2.zarr')
    split, reg, origin = root['meta/split'][:], root['meta/region'][:], root['meta/origin'][:]
    blocks = {}
    for s, r, (row, col) in zip(split, reg, origin):
        blocks.setdefault((r, row//128, col//128), set()).add(int(s))
    assert all(len(v) == 1 for v in blocks.values())        # a block never straddles two splits
    assert out['chips'] == 18


def test_rerun_reuses(small_store, small_landscape):
    before = {p: p.stat().st_mtime_ns for p in small_store.rglob('*') if p.is_file()}
    res = build_chips(small_landscape, small_store, block=1)
    assert res['reused'] is True
    assert before == {p: p.stat().st_mtime_ns for p in small_store.rglob('*') if p.is_file()}


def test_interrupted_build_resumes_to_the_same_store(small_landscape, small_store, tmp_path, monkeypatch):
    monkeypatch.setattr(chips, 'SHARD_CHIPS', 8)
    ref = tmp_path/'ref.zarr'
    build_chips(small_landscape, ref, block=1)
    out = tmp_path/'cut.zarr'
    real, calls = chips.RegionSources.extract, {'n': 0}
    def dies(self, row, col):
        calls['n'] += 1
        if calls['n'] == 12: raise KeyboardInterrupt('killed')   # in the second shard of 8 chips
        return real(self, row, col)
    monkeypatch.setattr(chips.RegionSources, 'extract', dies)
    with pytest.raises(KeyboardInterrupt): build_chips(small_landscape, out, block=1)
    with pytest.raises(DataError, match='incomplete'): open_store(out)   # never mistaken for a whole store
    assert zarr.open_group(out, mode='r')['meta/done'][:].tolist() == [1]*8 + [0]*10
    calls['n'] = -10**9
    build_chips(small_landscape, out, block=1)
    a, b = _arrays(ref), _arrays(out)
    assert a.keys() == b.keys()
    for k in a: np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_other_settings_refused_without_overwrite(small_landscape, small_store):
    before = _arrays(small_store)['meta/split']
    with pytest.raises(DataError, match='overwrite'): build_chips(small_landscape, small_store, block=3)
    np.testing.assert_array_equal(_arrays(small_store)['meta/split'], before)
    open_store(small_store)                                    # still complete


def _copy_landscape(src, dst):
    shutil.copytree(src, dst)
    return dst


def _rewrite_raster(path, edit):
    "Replace a raster by `edit(profile, array) -> array` of it (same profile but the band count)."
    with rasterio.open(path) as ds: prof, a = ds.profile, ds.read()
    a = edit(prof, a)
    prof.update(count=a.shape[0], driver='GTiff')
    path.unlink()
    with rasterio.open(path, 'w', **prof) as ds: ds.write(a)


def test_all_nodata_chip_names_the_file(small_landscape, tmp_path):
    land = _copy_landscape(small_landscape, tmp_path/'land')
    tdx = next((land/'temperate_1'/'tandemx').glob('TDX_COH_*.tif'))
    _rewrite_raster(tdx, lambda prof, a: np.full_like(a, prof['nodata']))
    with pytest.raises(DataError, match=rf'{tdx.name}: has no valid pixel'):
        build_chips(land, tmp_path/'x.zarr')


def test_wrong_band_count_names_the_file(small_landscape, tmp_path):
    land = _copy_landscape(small_landscape, tmp_path/'land')
    truth = land/'tropical_moist_0'/'truth'/'truth.tif'
    _rewrite_raster(truth, lambda prof, a: a[:2])
    with pytest.raises(DataError, match=r'truth.tif: has 2 band\(s\)'):
        build_chips(land, tmp_path/'x.zarr')


def test_era5_not_covering_names_the_file(small_landscape, tmp_path):
    import xarray as xr
    land = _copy_landscape(small_landscape, tmp_path/'land')
    nc = next((land/'temperate_1'/'era5').glob('*.nc'))
    ds = xr.open_dataset(nc).load(); ds.close()
    ds = ds.assign_coords(longitude=ds.longitude + 5)
    nc.unlink(); ds.to_netcdf(nc)
    with pytest.raises(DataError, match=rf'{nc.name}: does not cover'):
        build_chips(land, tmp_path/'x.zarr')


def test_missing_landscape_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match='no landscape.json'): build_chips(tmp_path, tmp_path/'x.zarr')
