"Tests of the virtual landscape (abc3d.sim.truth, abc3d.sim.sensors): layout, determinism, difficulty."
import os, json, glob, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, rasterio, h5py, netCDF4, geopandas as gpd
from rio_cogeo.cogeo import cog_validate
from abc3d.sim.truth import BIOMES, TRUTH_BANDS, Landscape, RegionSpec, truth_window
from abc3d.sim.landscape import build_landscape, load_manifest
from abc3d.sim.sensors import r2_fit
from abc3d.sim.lidar import gedi_shots
from abc3d.data.readers import HLS_BANDS
from abc3d.data.points import GEDI_BEAMS, ATL08_TRACKS as ATL08_BEAMS
from rasterio.windows import Window
from abc3d.data.las import cloud_info
from abc3d.data.soil import read_horizons

os.environ['ABC3D_PROGRESS'] = '0'

@pytest.fixture(scope='module')
def default(tmp_path_factory):
    return build_landscape(tmp_path_factory.mktemp('landscape'))

def _read(p):
    with rasterio.open(p) as s: return s.read(), list(s.descriptions)

def test_layout(default):
    m = load_manifest(default)
    assert m['complete'] and m['seed'] == 0 and m['year'] == 2021 and m['version']
    assert [r['name'] for r in m['regions']] == ['tropical_moist_0', 'temperate_0']
    for r in m['regions']:
        d = default/r['name']
        assert {'name', 'biome', 'epsg', 'transform', 'width', 'height', 'res', 'bounds', 'lonlat_bounds', 'center_lonlat',
                'dates', 'mgrs_tile'} <= set(r) and len(r['dates']) == 8 and (r['width'], r['res']) == (384, 30.0)
        assert sorted({d[:4] for d in r['dates']}) == ['2020', '2021'] and m['years'] == 2      # two years of HLS up to `year`
        for date in r['dates']:
            stem = f"HLS.L30.T{r['mgrs_tile']}.{pd.Timestamp(date):%Y%j}T103000.v2.0"
            for b in HLS_BANDS:
                with rasterio.open(d/f'hls/{stem}.{b}.tif') as s:
                    assert (s.dtypes[0], s.nodata, s.tags()['scale_factor'], s.crs.to_epsg(), s.res) == ('int16', -9999, '0.0001', r['epsg'], (30., 30.))
            with rasterio.open(d/f'hls/{stem}.Fmask.tif') as s: assert (s.dtypes[0], s.nodata) == ('uint8', 255)
        with rasterio.open(d/f"tandemx/TDX_COH_{r['name']}.tif") as s:         # coherence and the height of ambiguity it was taken with
            assert (s.res, s.nodata, s.dtypes[0], s.descriptions) == ((12., 12.), -1, 'float32', ('coherence', 'height_of_ambiguity'))
            coh, hoa = s.read(out_shape=(2, 64, 64))
            assert 0 <= coh.min() and coh.max() <= 1 and 28 <= hoa.min() and hoa.max() <= 84 and s.tags(2)['units'] == 'm'
        dem, = (d/'dem').glob('Copernicus_DSM_COG_10_*_DEM.tif')
        with rasterio.open(dem) as s: assert (s.crs.to_epsg(), s.nodata) == (4326, -32767) and abs(s.res[0] - 1/3600) < 1e-12
        info = cloud_info(d/f"als/ALS_{r['name']}.laz")                       # the airborne survey as a point cloud
        assert info.crs.to_epsg() == r['epsg'] and info.point_format == 6 and info.count > 1e6
        assert info.bounds[2] - info.bounds[0] <= 2000 and info.z_factor == 1.0
        with rasterio.open(d/'landcover/landcover.tif') as s: assert (s.res, s.nodata, s.dtypes[0]) == ((10., 10.), 0, 'uint8')
        with rasterio.open(d/'disturbance/disturbance.tif') as s: assert (s.nodata, s.dtypes[0]) == (255, 'uint8')
        t, names = _read(d/'truth/truth.tif')
        assert names == TRUTH_BANDS and t.dtype == np.float32
        with netCDF4.Dataset(d/'era5/era5_land_monthly_2021.nc') as nc:
            assert nc['t2m'].dimensions == ('valid_time', 'latitude', 'longitude') and nc['tp'].units == 'm'
            assert nc['latitude'][0] > nc['latitude'][-1] and len(nc['valid_time']) == 12
        g2 = sorted((d/'gedi').glob('GEDI02_A_*_V002.h5')); g4 = sorted((d/'gedi').glob('GEDI04_A_*_V002.h5'))
        assert len(g2) >= 3 and len(g2) == len(g4)
        with h5py.File(g2[0]) as h:
            assert set(GEDI_BEAMS) | {'METADATA'} == set(h)
            b = h['BEAM0000']
            assert b['rh'].shape[1] == 101 and b['shot_number'].dtype == np.uint64 and b['quality_flag'].dtype == np.uint8
        with h5py.File(g4[0]) as h: assert h['BEAM0101/agbd'].dtype == np.float32 and 'agbd_se' in h['BEAM0101']
        at = sorted((d/'icesat2').glob('ATL08_*_006_01.h5'))
        with h5py.File(at[0]) as h:
            assert sorted(h) == ATL08_BEAMS and h['gt1l/land_segments/canopy/canopy_h_metrics'].shape[1] == 18
        fp = gpd.read_parquet(d/'plots/field_plots.parquet')
        assert fp.crs.to_epsg() == 4326 and 20 <= len(fp) <= 40
        np.testing.assert_allclose(fp.socs_30_100, fp.soc_30_100*fp.bd_30_100*70*(1 - fp.cf_30_100)/10, rtol=1e-9)
        hz = read_horizons(d/'plots/soil_horizons.parquet')                   # the plots' soil cores as horizons
        assert set(hz.profile_id) == set(fp.plot_id) and hz.groupby('profile_id').size().between(3, 6).all()
        assert (hz.groupby('profile_id').top_cm.min() == 0).all() and hz.bottom_cm.max() == 200
        assert {'tls_h95', 'tls_pai', 'tls_agb'} <= set(pd.read_csv(d/'plots/tls_plots.csv'))
        assert 2 <= len(pd.read_csv(d/'towers/flux_towers.csv')) <= 4

def test_loss_inside_the_record_changes_the_scenes(default):
    "A clearing made inside the record is forest in the scenes before its date and soil after: on the same date, NDVI is far lower where the loss has happened."
    from abc3d.sim.landscape import default_regions
    from abc3d.sim.sensors import decimal_year
    drops = []
    for r, spec in zip(load_manifest(default)['regions'], default_regions()):
        land, d, w = Landscape(spec, 0, 2021, 2), default/r['name'], Window(0, 0, r['width'], r['height'])
        with rasterio.open(d/'truth/truth.tif') as s: recent = s.read(s.descriptions.index('disturbance_year') + 1) >= 2020
        for date in r['dates']:
            lost = truth_window(land, w, when=decimal_year(pd.Timestamp(date).date()))['disturbance_year'] >= 2020
            stem = d/'hls'/f"HLS.L30.T{r['mgrs_tile']}.{pd.Timestamp(date):%Y%j}T103000.v2.0"
            red, nir, fm = (rasterio.open(f'{stem}.{b}.tif').read(1).astype(float) for b in ('B04', 'B05', 'Fmask'))
            clear = (fm.astype(int) & 15) == 0                                          # no cirrus, cloud, adjacency, shadow
            ndvi = (nir - red)/(nir + red)
            after, before = ndvi[recent & lost & clear], ndvi[recent & ~lost & clear]
            if min(len(after), len(before)) >= 20: drops.append(before.mean() - after.mean())
    assert len(drops) >= 3 and np.median(drops) > 0.2, drops      # measured: 0.36, 0.37, 0.14


def test_cogs_valid(default):
    tifs = sorted(default.rglob('*.tif'))
    assert len(tifs) > 90
    bad = [p for p in tifs if not cog_validate(p, quiet=True)[0]]
    assert not bad, bad

def test_clouds_in_hls(default):
    for r in ['tropical_moist_0', 'temperate_0']:
        fm = np.stack([_read(p)[0][0] for p in sorted((default/r/'hls').glob('*.Fmask.tif'))])
        cloud = (fm & 2) > 0
        assert 0.02 < cloud.mean() < 0.95 and ((fm & 8) > 0).any() and (~cloud).any(0).mean() > 0.5

def test_difficulty(default):
    "Optical bands alone (clear dates averaged per pixel) cannot explain AGB; true canopy height can."
    X, Y, H = [], [], []
    for r in ['tropical_moist_0', 'temperate_0']:
        t, names = _read(default/r/'truth/truth.tif')
        stack = []
        for fm_path in sorted((default/r/'hls').glob('*.Fmask.tif')):
            fm = _read(fm_path)[0][0]
            bands = np.stack([_read(str(fm_path).replace('Fmask', b))[0][0]*1e-4 for b in HLS_BANDS])
            stack.append(np.where((fm & 15) == 0, bands, np.nan))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)  # pixels never clear
            mean = np.nanmean(np.stack(stack), 0)
        keep = np.isfinite(mean).all(0)
        X.append(mean[:, keep].T); Y.append(t[names.index('agbd')][keep]); H.append(t[names.index('canopy_height')][keep])
    X, Y, H = np.concatenate(X), np.concatenate(Y), np.concatenate(H)
    r2_opt, r2_h = r2_fit(X, Y), r2_fit(np.c_[H, H**2], Y)
    print(f'\nlinear fit of true AGB on 6 HLS bands (clear dates averaged, 50/50 split, {len(Y)} px): R2 = {r2_opt:.3f}; '
          f'oracle fit on true canopy height (H, H^2): R2 = {r2_h:.3f}; AGB std = {Y.std():.0f} Mg/ha')
    assert Y.std() > 50 and r2_h > 0.7
    assert r2_opt < 0.5

def test_determinism_and_blocks(tmp_path):
    "Same seed: equal data, whatever the block size; another seed: different data."
    regions = [RegionSpec('dry_s', 'dry', size_px=48)]
    a = build_landscape(tmp_path/'a', regions, seed=3, n_dates=2, block=512)
    b = build_landscape(tmp_path/'b', regions, seed=3, n_dates=2, block=16)
    files = sorted(p.relative_to(a) for p in a.rglob('*') if p.is_file() and p.name != 'landscape.json')
    assert files == sorted(p.relative_to(b) for p in b.rglob('*') if p.is_file() and p.name != 'landscape.json')
    for f in files:
        if f.suffix == '.tif': np.testing.assert_array_equal(_read(a/f)[0], _read(b/f)[0])
        elif f.suffix == '.h5':
            with h5py.File(a/f) as ha, h5py.File(b/f) as hb:
                ha.visititems(lambda n, o: np.testing.assert_array_equal(o[()], hb[n][()]) if isinstance(o, h5py.Dataset) else None)
        elif f.suffix == '.csv': pd.testing.assert_frame_equal(pd.read_csv(a/f), pd.read_csv(b/f))
    c = build_landscape(tmp_path/'c', regions, seed=4, n_dates=2)
    assert not np.array_equal(_read(a/'dry_s/truth/truth.tif')[0], _read(c/'dry_s/truth/truth.tif')[0])

def test_block_independence():
    land = Landscape(RegionSpec('t', 'temperate', size_px=96), seed=1)
    whole = truth_window(land, Window(0, 0, 96, 96))
    for k in ['agbd', 'soc_0_30', 'gpp', 'rh50', 'land_cover', 'disturbance_year']:
        parts = np.block([[truth_window(land, Window(c, r, 48, 48))[k] for c in (0, 48)] for r in (0, 48)])
        np.testing.assert_allclose(parts, whole[k], rtol=1e-9, atol=1e-9)

def test_rerun_resume_and_conflict(tmp_path):
    regions = [RegionSpec('temperate_s', 'temperate', size_px=32)]
    root = build_landscape(tmp_path, regions, n_dates=2)
    man = root/'landscape.json'
    mtime = man.stat().st_mtime_ns
    build_landscape(tmp_path, regions, n_dates=2)
    assert man.stat().st_mtime_ns == mtime  # complete with the same parameters: skipped
    with pytest.raises(ValueError, match='overwrite=True'): build_landscape(tmp_path, regions, seed=9, n_dates=2)
    # an interrupted build: no manifest, a file missing; rerunning resumes it
    m = json.loads(man.read_text()); m.pop('complete')
    (root/'.build.json').write_text(json.dumps(m))  # what a build records before it writes anything
    man.unlink(); (root/'temperate_s/truth/truth.tif').unlink()
    build_landscape(tmp_path, regions, n_dates=2)
    assert load_manifest(root)['complete'] and (root/'temperate_s/truth/truth.tif').exists()
    build_landscape(tmp_path, regions, seed=9, n_dates=2, overwrite=True)
    assert load_manifest(root)['seed'] == 9

def test_gedi_geolocation_error():
    land = Landscape(RegionSpec('tropical_moist_0', 'tropical_moist'), seed=0)
    sh = gedi_shots(land, 0)
    ok = sh['degrade_flag'] == 0
    err = np.hypot(sh['x_obs'] - sh['x'], sh['y_obs'] - sh['y'])[ok]
    assert 7 < err.mean() < 13 and np.percentile(err, 95) < 30

@pytest.mark.parametrize('biome, lo, hi', [('tropical_moist', 250, 450), ('temperate', 120, 300), ('boreal', 50, 150), ('dry', 10, 60)])
def test_truth_ranges(biome, lo, hi):
    land = Landscape(RegionSpec(f'{biome}_r', biome, size_px=128), seed=0)
    t = truth_window(land, Window(0, 0, 128, 128))
    f = t['land_cover'] == 10
    assert lo < np.median(t['agbd'][f]) < hi
    assert (t['bgb'] < t['agbd'] + 1e-9)[f].all() and (t['canopy_height'] <= BIOMES[biome].hmax + 1e-9).all()
    assert np.nanmedian(t['soc_100_200']/100) < np.nanmedian(t['soc_30_100']/70) < np.nanmedian(t['soc_0_30']/30)
