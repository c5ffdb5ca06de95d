"Each kind of bad input makes abc3d.data.readers raise a DataError that names the file and the problem."
import numpy as np, pandas as pd, pytest, xarray as xr
import abc3d.data.readers as io  # first: it loads pyproj before eccodes
import abc3d.data.points as points
import h5py, rasterio
from rasterio.transform import from_origin
from abc3d.core import DataError

pytestmark = [pytest.mark.filterwarnings('ignore::FutureWarning'), pytest.mark.filterwarnings('ignore::PendingDeprecationWarning'),
              pytest.mark.filterwarnings('ignore::rasterio.errors.NotGeoreferencedWarning')]

def tif(path, arr, crs='EPSG:32631', nodata=None, res=30.):
    arr = np.asarray(arr); arr = arr[None] if arr.ndim == 2 else arr
    with rasterio.open(path, 'w', driver='GTiff', width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                       dtype=arr.dtype, crs=crs, transform=from_origin(600000, 4800000, res, res), nodata=nodata) as d:
        d.write(arr)
    return path

def raises(fn, path, *words):
    with pytest.raises(DataError) as e: fn()
    msg = str(e.value)
    assert msg.startswith(str(path)), msg
    for w in words: assert w in msg, msg
    return msg

def hls_dir(d, shapes=None):
    shapes = shapes or {}
    for b in io.HLS_BANDS + ['Fmask']:
        tif(d/f'HLS.L30.T31TFJ.2021183T103000.v2.0.{b}.tif', np.ones(shapes.get(b, (3, 4)), 'u1' if b == 'Fmask' else 'i2'))
    return d

def test_truncated_raster(tmp_path):
    good = tif(tmp_path/'good.tif', np.ones((64, 64), 'f4'))
    bad = tmp_path/'cut.tif'; bad.write_bytes(good.read_bytes()[:300])
    raises(lambda: io.read_raster(bad), bad, 'not a readable raster')

def test_not_a_raster(tmp_path):
    p = tmp_path/'notes.tif'; p.write_text('hello')
    raises(lambda: io.read_raster(p), p, 'not a readable raster')

def test_missing_file(tmp_path):
    raises(lambda: io.read_raster(tmp_path/'nope.tif'), tmp_path/'nope.tif', 'file not found')

def test_raster_without_crs(tmp_path):
    p = tif(tmp_path/'nocrs.tif', np.ones((2, 2), 'f4'), crs=None)
    raises(lambda: io.read_raster(p), p, 'no CRS')

def test_wrong_band_count(tmp_path):
    p = tif(tmp_path/'two.tif', np.ones((2, 3, 3), 'f4'))
    raises(lambda: io.read_raster(p, bands=1), p, 'has 2 bands, expected 1')

def test_hls_band_of_wrong_count(tmp_path):
    d = hls_dir(tmp_path)
    p = tif(d/'HLS.L30.T31TFJ.2021183T103000.v2.0.B04.tif', np.ones((2, 3, 4), 'i2'))
    raises(lambda: io.read_hls(d), p, 'has 2 bands, expected 1')

def test_hls_bands_of_different_shapes(tmp_path):
    d = hls_dir(tmp_path, {'B05': (3, 5)})
    raises(lambda: io.read_hls(d), d/'HLS.L30.T31TFJ.2021183T103000.v2.0.B05.tif', 'shape (3, 5) differs from (3, 4)')

def test_hls_band_of_different_crs(tmp_path):
    d = hls_dir(tmp_path)
    p = tif(d/'HLS.L30.T31TFJ.2021183T103000.v2.0.B06.tif', np.ones((3, 4), 'i2'), crs='EPSG:32630')
    raises(lambda: io.read_hls(d), p, 'CRS')

def test_hls_missing_band(tmp_path):
    d = hls_dir(tmp_path); (d/'HLS.L30.T31TFJ.2021183T103000.v2.0.Fmask.tif').unlink()
    raises(lambda: io.read_hls(d), d/'HLS.L30.T31TFJ.2021183T103000.v2.0.B02.tif', "lacks bands ['Fmask']")

def test_hls_bad_name(tmp_path):
    p = tif(tmp_path/'B04.tif', np.ones((3, 4), 'i2'))
    raises(lambda: io.read_hls([p]), p, 'not an HLS v2.0 file name')

def test_all_nodata_raster(tmp_path):
    p = tif(tmp_path/'empty.tif', np.full((3, 3), -9999, 'f4'), nodata=-9999)
    assert io.read_raster(p).isnull().all()              # allowed unless asked
    raises(lambda: io.read_raster(p, reject_empty=True), p, 'all nodata')

def test_landsat_missing_band_file(tmp_path):
    mtl = tmp_path/'x_MTL.txt'
    mtl.write_text('GROUP = L1_METADATA_FILE\n GROUP = IMAGE_ATTRIBUTES\n  SUN_ELEVATION = 50\n END_GROUP = IMAGE_ATTRIBUTES\n'
                   ' GROUP = RADIOMETRIC_RESCALING\n  REFLECTANCE_MULT_BAND_4 = 2.0E-05\n  REFLECTANCE_ADD_BAND_4 = -0.1\n'
                   ' END_GROUP = RADIOMETRIC_RESCALING\nEND_GROUP = L1_METADATA_FILE\nEND\n')
    raises(lambda: io.read_landsat_l1(mtl, bands=['B4']), mtl, 'expected one x_B4.tif beside the MTL, found 0')
    raises(lambda: io.read_landsat_l1(mtl, bands=['B5']), mtl, 'MTL lacks REFLECTANCE_MULT_BAND_5')

def test_landsat_not_an_mtl(tmp_path):
    p = tmp_path/'y_MTL.txt'; p.write_text('KEY = 1\n')
    raises(lambda: io.parse_mtl(p), p, 'no GROUP = L1_METADATA_FILE')

def test_hdf5_not_hdf5(tmp_path):
    p = tmp_path/'GEDI02_A_bad.h5'; p.write_bytes(b'\x00' * 100)
    raises(lambda: points.read_gedi_l2a(p), p, 'not a readable HDF5 file')

def test_gedi_without_beams(tmp_path):
    p = tmp_path/'GEDI02_A_nobeams.h5'
    with h5py.File(p, 'w') as h: h.create_group('METADATA')
    raises(lambda: points.read_gedi_l2a(p), p, 'no beam groups')
    raises(lambda: points.read_gedi_l4a(p), p, 'no beam groups')

def test_gedi_missing_dataset(tmp_path):
    p = tmp_path/'GEDI02_A_norh.h5'
    with h5py.File(p, 'w') as h:
        g = h.create_group('BEAM0101')
        for k in ['shot_number', 'lat_lowestmode', 'lon_lowestmode', 'delta_time', 'elev_lowestmode', 'sensitivity',
                  'quality_flag', 'degrade_flag']: g[k] = np.zeros(3)
    raises(lambda: points.read_gedi_l2a(p), p, 'missing dataset BEAM0101/rh')
    raises(lambda: points.read_gedi_l4a(p), p, 'missing dataset BEAM0101/agbd')

def test_gedi_missing_requested_beam(tmp_path):
    p = tmp_path/'GEDI02_A_onebeam.h5'
    with h5py.File(p, 'w') as h: h.create_group('BEAM0101')
    raises(lambda: points.read_gedi_l2a(p, beams=['BEAM0000']), p, "missing beam groups ['BEAM0000']")

def test_atl08_missing_group(tmp_path):
    p = tmp_path/'ATL08_x.h5'
    with h5py.File(p, 'w') as h: h.create_group('gt1l/signal_photons')
    raises(lambda: points.read_atl08(p), p, 'missing group gt1l/land_segments')
    q = tmp_path/'ATL08_notracks.h5'
    with h5py.File(q, 'w') as h: h.create_group('orbit_info')
    raises(lambda: points.read_atl08(q), q, 'no beam groups')

def test_era5_not_covering(tmp_path):
    p = tmp_path/'era5.nc'
    xr.Dataset({'t2m': (('valid_time', 'latitude', 'longitude'), np.full((1, 3, 3), 280., 'f4'))},
               coords={'valid_time': pd.to_datetime(['2021-01-01']), 'latitude': [44., 43.9, 43.8],
                       'longitude': [2., 2.1, 2.2]}).to_netcdf(p)
    assert io.read_era5(p, bounds=(2.0, 43.8, 2.2, 44.0)).t2m.dims == ('time', 'latitude', 'longitude')
    raises(lambda: io.read_era5(p, bounds=(2.5, 43.8, 3.0, 44.0)), p, 'does not cover bounds lon 2.5..3.0, lat 43.8..44.0')

def test_era5_unknown_format(tmp_path):
    p = tmp_path/'era5.txt'; p.write_text('not a grid')
    raises(lambda: io.read_era5(p), p, 'neither NetCDF nor GRIB')

def test_era5_truncated_grib(tmp_path):
    p = tmp_path/'cut.grib'; p.write_bytes(b'GRIB' + b'\x00' * 50)
    raises(lambda: io.read_era5(p), p, 'GRIB')

def test_points_table_without_latlon(tmp_path):
    p = tmp_path/'plots.csv'; pd.DataFrame(dict(x=[1.])).to_csv(p, index=False)
    raises(lambda: points.read_points_table(p), p, 'no lat/lon columns')
    q = tmp_path/'bad.csv'; pd.DataFrame(dict(lat=[95.], lon=[2.])).to_csv(q, index=False)
    raises(lambda: points.read_points_table(q), q, 'out-of-range lat/lon')
    r = tmp_path/'plots.xlsx'; r.write_text('x')
    raises(lambda: points.read_points_table(r), r, 'unknown table format')

def test_era5_grib_with_truncated_message(tmp_path):
    import eccodes  # after abc3d.data.readers, so pyproj is loaded first
    p = tmp_path/'era5.grib'
    with open(p, 'wb') as f:
        for name in ('2t', 'skt'):
            g = eccodes.codes_grib_new_from_samples('regular_ll_sfc_grib2')
            eccodes.codes_set(g, 'shortName', name)
            eccodes.codes_set_values(g, np.full(eccodes.codes_get_size(g, 'values'), 280.))
            eccodes.codes_write(g, f); eccodes.codes_release(g)
    assert {'t2m', 'skt'} <= set(io.read_era5(p).data_vars)
    p.write_bytes(p.read_bytes()[:-40])            # cut the second message: cfgrib alone would skip it quietly
    raises(lambda: io.read_era5(p), p, 'cannot read as ERA5 NetCDF/GRIB')
