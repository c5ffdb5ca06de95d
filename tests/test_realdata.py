"Every real sample product in shared/realdata read through abc3d.data.readers, with plausibility checks on the values."
import warnings
import numpy as np, pandas as pd, pytest
import abc3d.data.readers as io  # first: it loads pyproj before eccodes (see the ERA5 section of nbs/data/11_readers.ipynb)
import abc3d.data.points as points
import h5py
from abc3d.core import realdata_dir

RD = realdata_dir()
pytestmark = [pytest.mark.skipif(RD is None, reason='no shared/realdata folder beside/above the cwd and no $ABC3D_REALDATA'),
              pytest.mark.filterwarnings('ignore::FutureWarning'), pytest.mark.filterwarnings('ignore::PendingDeprecationWarning')]
L2A = 'gedi/GEDI02_A_2019108080338_O01964_T05337_02_001_01_sub.h5'
L4A = 'gedi/GEDI04_A_2021150031254_O13948_03_T06447_02_002_01_V002.h5'
S1 = 'sentinel1/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif'

def test_every_file_has_a_reader():
    known = {L2A, L4A, S1, 'icesat2/atl08_clip.h5', 'icesat2/aoi_4326.geojson', 'landsat8/l8_MTL.txt',
             'era5/era5-single-level-scalar-time.grib', 'era5/soil-surface-level-mix.grib', 'README.md',
             *(f'landsat8/l8_{b}.tif' for b in ['B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'BQA'])}
    # LAS/LAZ point clouds and soil horizon tables have no reader yet: their tests come with those readers
    no_reader_yet = {'als/autzen_trim.laz', 'als/vegetation_1_3.las', 'soil/SoilHorizons.csv', 'soil/SoilProfiles.csv'}
    found = {str(p.relative_to(RD)) for p in RD.rglob('*') if p.is_file()}
    assert found - no_reader_yet <= known, f'files without a test: {found - known - no_reader_yet}'

def test_gedi_l2a():
    df = points.read_gedi_l2a(RD/L2A)
    assert df.attrs['n_read'] == 301 and len(df) == 301          # 7 beams (no BEAM0000), all shots pass quality
    assert sorted(df.beam.unique()) == ['BEAM0001', 'BEAM0010', 'BEAM0011', 'BEAM0101', 'BEAM0110', 'BEAM1000', 'BEAM1011']
    assert [f'rh{i}' for i in range(101)] == [c for c in df.columns if c.startswith('rh')]
    assert df.rh98.between(0, 80).all()
    assert df.lat.between(-14, -13).all() and df.lon.between(-45, -43).all()    # Bahia
    assert (df.time.dt.strftime('%Y-%m-%d') == '2019-04-18').all()
    assert (df.sensitivity >= 0.9).all() and (df.quality_flag == 1).all() and (df.degrade_flag == 0).all()
    with h5py.File(RD/L2A) as h:
        top = np.concatenate([h[b]['elev_highestreturn'][()] - h[b]['elev_lowestmode'][()] for b in points.GEDI_BEAMS if b in h])
    assert np.mean(np.abs(df.rh100.values - top) < 1.0) > 0.95     # rh in metres (cm would be off by 100x)
    g = points.lidar_to_geodataframe(df, crs='EPSG:32724')
    assert g.crs.to_epsg() == 32724 and len(g) == 301

def test_gedi_l4a():
    strict = points.read_gedi_l4a(RD/L4A)
    assert strict.attrs['n_read'] == 966 and len(strict) == 0      # every shot of this orbit has degrade_flag 4/34/74
    allq = points.read_gedi_l4a(RD/L4A, quality=False)
    assert len(allq) == 966 - 71                                    # the -9999 fills are dropped
    df = points.read_gedi_l4a(RD/L4A, allow_degraded=True)
    assert len(df) == 733
    assert (df.l4_quality_flag == 1).all()
    assert np.isfinite(df.agbd).all() and (df.agbd >= 0).all() and (df.agbd < 1500).all()
    assert (df.agbd_se > 0).all()
    assert (df.time.dt.strftime('%Y-%m-%d') == '2021-05-30').all()
    assert len(df.beam.unique()) == 8

def test_atl08():
    df = points.read_atl08(RD/'icesat2/atl08_clip.h5')
    raw = points.read_atl08(RD/'icesat2/atl08_clip.h5', quality=False)
    assert len(raw) == 9 and len(df) == 9 - int(raw.h_canopy.isna().sum())
    assert (df.track == 'gt1r').all()
    assert df.h_canopy.between(0, 60).all()
    assert [f'rh{p}' for p in range(10, 100, 5)] == [c for c in df.columns if c.startswith('rh')]
    assert (df.rh95 >= df.rh10).all()
    assert df.lat.between(41, 42).all() and df.lon.between(-107, -106).all()   # Wyoming
    assert df.h_te_best_fit.between(2000, 3000).all()
    assert (df.time.dt.strftime('%Y-%m-%d') == '2022-04-01').all()

def test_landsat8_l1():
    mtl = io.parse_mtl(RD/'landsat8/l8_MTL.txt')
    assert mtl['IMAGE_ATTRIBUTES']['SUN_ELEVATION'] == pytest.approx(64.74360932)
    assert mtl['RADIOMETRIC_RESCALING']['REFLECTANCE_MULT_BAND_4'] == pytest.approx(2e-5)
    assert mtl['RADIOMETRIC_RESCALING']['REFLECTANCE_ADD_BAND_4'] == pytest.approx(-0.1)
    ds = io.read_landsat_l1(RD/'landsat8/l8_MTL.txt')
    assert ds.attrs['scene_id'] == 'LC80200392015216LGN00' and ds.attrs['collection'] == 0
    assert ds.reflectance.dims == ('band', 'y', 'x') and ds.reflectance.shape == (6, 603, 627)
    assert ds.wavelength.values.tolist() == [0.4826, 0.5613, 0.6546, 0.8646, 1.6090, 2.2010]
    assert ds.rio.crs.to_epsg() == 32616 and ds.rio.transform().a == 30
    clear = ds.reflectance.where(ds.clear)
    assert 0.3 < float(ds.clear.mean()) < 1                          # CLOUD_COVER 11 %: most pixels clear
    assert float(((clear >= 0) & (clear <= 1.2)).sum() / clear.notnull().sum()) > 0.99
    assert float(clear.sel(band='B5').median()) > float(clear.sel(band='B4').median())   # vegetation: NIR > red
    dn = io.read_raster(RD/'landsat8/l8_B4.tif', masked=False).values[0].astype('f8')    # the formula, by hand
    expect = (2e-5 * dn - 0.1) / np.sin(np.radians(64.74360932))
    np.testing.assert_allclose(ds.reflectance.sel(band='B4').values[0, :5], expect[0, :5], rtol=1e-5)

def test_sentinel1_db():
    da = io.read_sar_db(RD/S1)
    assert da.rio.crs.to_epsg() == 32631 and da.rio.encoded_nodata == -99
    assert da.shape == (1, 217, 268)
    v = da.values[np.isfinite(da.values)]
    assert v.size > 0.9 * da.size and ((v > -40) & (v < 15)).all()
    assert not (da.values == -99).any()
    lin = io.read_sar_db(RD/S1, linear=True)
    np.testing.assert_allclose(lin.values, 10 ** (da.values / 10), rtol=1e-5)

def test_era5_grib_t2m():
    ds = io.read_era5(RD/'era5/era5-single-level-scalar-time.grib')
    assert ds.t2m.dims == ('latitude', 'longitude') and ds.t2m.shape == (121, 201)
    assert (ds.longitude.min(), ds.longitude.max(), ds.latitude.min(), ds.latitude.max()) == (-10, 40, 30, 60)
    assert ds.latitude.values[0] > ds.latitude.values[-1]            # descending, as stored
    assert float(ds.t2m.min()) > 200 and float(ds.t2m.max()) < 330
    sub = io.read_era5(RD/'era5/era5-single-level-scalar-time.grib', bounds=(0, 40, 10, 50))
    assert float(sub.longitude.min()) == -0.25 and float(sub.latitude.max()) == 50.25   # one cell of margin
    pt = io.era5_at(ds, [2.35, 13.4], [48.85, 52.5])
    assert pt.t2m.dims == ('point',) and ((pt.t2m > 250) & (pt.t2m < 300)).all()
    with pytest.raises(io.DataError, match='does not cover'):
        io.read_era5(RD/'era5/era5-single-level-scalar-time.grib', bounds=(-20, 40, 0, 50))

def test_era5_grib_soil_mix():
    ds = io.read_era5(RD/'era5/soil-surface-level-mix.grib')
    assert {'swvl1', 'swvl2', 'swvl3', 'swvl4', 'stl1', 'slt', 't2m'} <= set(ds.data_vars)   # every hypercube
    for v in ['swvl1', 'swvl2', 'swvl3', 'swvl4']:
        assert float(ds[v].min()) > -1e-4 and float(ds[v].max()) <= 1   # GRIB packing leaves ~-3e-6 over sea
    assert float(ds.stl1.min()) > 200 and float(ds.stl1.max()) < 330
    assert set(np.unique(ds.slt.values)) <= set(range(8))

def test_grib_leaves_no_index_files():
    assert not list((RD/'era5').glob('*.idx'))


# ---- airborne lidar point clouds and soil horizon tables (abc3d.data.pointcloud, abc3d.data.soil)

def test_real_point_clouds_read_with_crs_units_and_products():
    from abc3d.data.pointcloud import cloud_products, P_LEVELS
    from abc3d.data.las import cloud_info
    from abc3d.core import DataError
    info = cloud_info(RD/'als/autzen_trim.laz')
    assert info.count == 110000 and info.crs is not None and abs(info.z_factor - 0.3048) < 1e-9     # heights in international feet
    pr = cloud_products(RD/'als/autzen_trim.laz')
    lo, hi = pr.meta['height_range']
    assert 25 < hi < 40 and lo > -2                                                  # metres: ~33 m trees, not ~110 ft
    v = pr.bands['valid'] > 0
    assert v.sum() > 30 and np.nanmax(pr.chm_fine) <= hi + 1e-6 and np.nanmax(pr.bands['chm'][v]) <= hi + 1e-6
    for prefix in ('p', 'rh'):
        q = np.stack([pr.bands[f'{prefix}{k}'][v] for k in P_LEVELS])
        q = q[:, np.isfinite(q).all(0)]
        assert q.shape[1] > 0 and (np.diff(q, axis=0) >= -1e-6).all()
    assert ((pr.bands['cover'][v] >= 0) & (pr.bands['cover'][v] <= 1)).all()
    with pytest.raises(DataError, match='vegetation_1_3.las.*no CRS'):
        cloud_info(RD/'als/vegetation_1_3.las')
    with pytest.raises(DataError, match='no ground returns'):
        cloud_products(RD/'als/vegetation_1_3.las', crs='EPSG:32632')


def test_real_soil_horizons_to_layer_stocks_by_hand():
    from abc3d.data.soil import read_horizons, soc_profiles
    hz = read_horizons(RD/'soil/SoilHorizons.csv')
    assert hz.profile_id.nunique() > 300 and (hz.bottom_cm > hz.top_cm).all()
    pf = soc_profiles(hz[hz.profile_id.isin(['4160', '10014'])]).set_index('profile_id')
    stock = lambda om, bd, cm: om*10*0.58*bd*cm*0.1            # organic matter % -> g C/kg (van Bemmelen 0.58), Mg C/ha
    assert pf.loc['4160', 'socs_0_30'] == pytest.approx(stock(6.8, 1.271, 8) + stock(2.3, 1.489, 7) + stock(4.7, 1.397, 15), rel=1e-9)
    assert pf.loc['10014', 'socs_0_30'] == pytest.approx(stock(5.5, 1.36, 20) + stock(2.5, 1.47, 10), rel=1e-9)
    assert pf.loc['10014', 'socs_30_100'] == pytest.approx(stock(0.3, 1.65, 30) + stock(65, 0.55, 40), rel=1e-9)
    assert pf.socs_100_200.isna().all()                       # both end at 120 cm: never extrapolated
    from abc3d.data.soil import read_profile_table
    profiles = read_profile_table(RD/'soil/SoilProfiles.csv')
    assert profiles.profile_id.is_unique and len(profiles) >= hz.profile_id.nunique()
    every = soc_profiles(hz, profiles=profiles)
    assert every.soilunit.notna().all() and (every.socs_0_30 > 0).all()   # every profile of the horizons is in the profile table


def test_lidar_and_soil_commands_write_products(tmp_path):
    import subprocess, sys, rasterio
    run = lambda *a: subprocess.run([sys.executable, '-m', 'abc3d.cli.main', *map(str, a)], capture_output=True, text=True)
    r = run('lidar', RD/'als/autzen_trim.laz', '--out', tmp_path/'als')
    assert r.returncode == 0, r.stderr
    with rasterio.open(tmp_path/'als/als_metrics_30m.tif') as f:
        assert 'chm' in f.descriptions and 'rh50' in f.descriptions and f.tags(1)['units'] == 'm'
        assert abs(f.res[0]*0.3048 - 30) < 1e-6                     # 30 m pixels on the cloud's CRS in feet
    r = run('lidar', RD/'als/vegetation_1_3.las', '--out', tmp_path/'x')
    assert r.returncode == 2 and 'vegetation_1_3.las' in r.stderr and 'no CRS' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path/'x').exists() or not any((tmp_path/'x').iterdir())
    r = run('soil', RD/'soil/SoilHorizons.csv', '--out', tmp_path/'soc.csv')
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path/'soc.csv', dtype={'profile_id': str})
    assert len(df) > 300 and df.socs_0_30.notna().all() and df.socs_100_200.isna().all() and (df.socs_0_30 > 0).all()
