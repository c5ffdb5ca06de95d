"The DataModule over a chip store: shapes, normalisation, consistent augmentation, workers."
import numpy as np
import pytest
import torch
from abc3d.data.loader import ChipDataset
from abc3d.data.datamodule import ChipDataModule
from abc3d.tasks import TASKS
from abc3d.core import DataError


def test_batch_layout(small_store):
    ds = ChipDataset(small_store, 'train', truth=True)
    b = ds[list(range(4))]
    hls = b['hls']
    assert hls['pixels'].shape == (4, 4, 6, 64, 64) and hls['pixels'].dtype == torch.float32
    assert hls['mask'].shape == (4, 4, 1, 64, 64) and hls['mask'].dtype == torch.bool
    assert torch.allclose(hls['wavelengths'][0], torch.tensor([0.482, 0.561, 0.655, 0.865, 1.609, 2.201]))
    assert hls['time'].shape == (4, 4, 2) and int(hls['time'][0, 0, 0]) == 2020 and int(hls['time'][0, -1, 0]) == 2021   # two years
    assert torch.isnan(b['tandemx']['wavelengths']).all()
    assert b['era5_land']['values'].shape == (4, 12, 4)
    assert b['latlon'].shape == (4, 2)
    assert set(b['targets']) == set(TASKS)
    v, m = b['targets']['canopy_profile']
    assert v.shape == (4, 10, 64, 64) and m.shape == (4, 1, 64, 64)
    prof = v.permute(0, 2, 3, 1)[m[:, 0]]
    assert len(prof) > 0 and (prof.diff(dim=-1) >= -1e-3).float().mean() > 0.99   # RH profiles rise with height
    lc, lm = b['targets']['land_cover']
    assert lc.dtype == torch.int64 and lm.float().mean() > 0.95 and lc.max() < 8
    assert torch.isfinite(hls['pixels']).all()
    assert ds[0]['hls']['pixels'].shape == (4, 6, 64, 64)


def test_training_inputs_are_standardised(small_store):
    ds = ChipDataset(small_store, 'train')
    b = ds[list(range(len(ds)))]
    x, m = b['hls']['pixels'], b['hls']['mask']
    vals = x.permute(2, 0, 1, 3, 4)[:, m[:, :, 0]]
    assert torch.allclose(vals.mean(1), torch.zeros(6), atol=0.05)
    assert torch.allclose(vals.std(1), torch.ones(6), atol=0.05)


def test_band_subset_and_bad_selection(small_store):
    ds = ChipDataset(small_store, 'val', modalities={'hls': ['B05', 'B04']}, tasks=['agbd'])
    b = ds[[0]]
    assert b['hls']['pixels'].shape[2] == 2
    assert torch.allclose(b['hls']['wavelengths'][0], torch.tensor([0.865, 0.655]))
    assert list(b['targets']) == ['agbd']
    with pytest.raises(DataError, match="no band\\(s\\) \\['B99'\\]"): ChipDataset(small_store, 'val', modalities={'hls': ['B99']})
    with pytest.raises(DataError, match="no modality 'sentinel2'"): ChipDataset(small_store, 'val', modalities=['sentinel2'])


def test_augmentation_moves_every_array_together(small_store):
    plain = ChipDataset(small_store, 'all', truth=True, tasks=['land_cover', 'canopy_height'])
    aug = ChipDataset(small_store, 'all', truth=True, tasks=['land_cover', 'canopy_height'], augment=True, seed=1)
    idx = list(range(len(plain)))
    a, p = aug[idx], plain[idx]
    lc_band = 17                                          # truth band 'land_cover'
    codes = torch.tensor([10, 20, 30, 40, 50, 60, 80, 90])
    for b in (p, a):
        v, m = b['targets']['land_cover']
        agree = (codes[v[:, 0]] == b['truth'][:, lc_band].long())[m[:, 0]].float().mean()
        assert agree > 0.8, agree                          # labels and truth still line up after the transform
    moved = (a['hls']['pixels'] != p['hls']['pixels']).flatten(1).any(1).float().mean()
    assert moved > 0.5                                     # most chips were flipped or rotated
    for b in (p, a):                                       # truth elevation and the DEM input move together
        dem = b['glo30']['pixels'][:, 0, 0].flatten(1); te = b['truth'][:, 0].flatten(1)
        r = torch.stack([torch.corrcoef(torch.stack([d, t]))[0, 1] for d, t in zip(dem, te)])
        assert r.nanmean() > 0.5, r


def test_datamodule_with_workers(small_store):
    dm = ChipDataModule(small_store, batch_size=4, num_workers=2, augment=True)
    dm.setup()
    seen = sorted(int(c) for b in dm.train_dataloader() for c in b['chip'])
    dm0 = ChipDataModule(small_store, batch_size=4, num_workers=0); dm0.setup()
    assert seen == sorted(int(c) for b in dm0.train_dataloader() for c in b['chip'])
    assert len(seen) == len(dm.ds['train']) and len(set(seen)) == len(seen)
    val = [int(c) for b in dm.val_dataloader() for c in b['chip']]
    assert not set(val) & set(seen)
