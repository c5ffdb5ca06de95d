"Label sources on one definition: conversions from the catalog, label noise and source in every batch, the audit against the truth."
import numpy as np
import torch
from abc3d.data.loader import ChipDataset, label_audit
from abc3d.data.catalog import load_catalog
from abc3d.tasks import TASKS


def test_label_var_and_source_move_with_the_targets(small_store):
    plain = ChipDataset(small_store, 'all', tasks=['canopy_height', 'agbd', 'land_cover'])
    aug = ChipDataset(small_store, 'all', tasks=['canopy_height', 'agbd', 'land_cover'], augment=True, seed=1)
    idx = list(range(len(plain)))
    p, a = plain[idx], aug[idx]
    for b in (p, a):
        assert set(b['label_var']) == set(b['label_source']) == {'canopy_height', 'agbd', 'land_cover'}
        for t, (v, m) in b['targets'].items():
            var, src = b['label_var'][t], b['label_source'][t]
            assert var.shape == v.shape and var.dtype == torch.float32 and src.shape == m.shape and src.dtype == torch.int8
            assert ((src >= 0) == m).all() and (var[~m.expand_as(var)] == 0).all()
            assert int(src.max()) < len(TASKS[t].labels)
    v, m = a['targets']['canopy_height']
    assert (a['label_var']['canopy_height'][m] > 0).all()                  # every canopy-height source states its noise
    src = a['label_source']['canopy_height'][m]
    for k, (n, _) in enumerate(TASKS['canopy_height'].labels):             # the stated noise is that source's
        e = load_catalog()[n].label_error if n in load_catalog().modalities else None
        if e and (src == k).any():
            (g,) = [x for b, x in e.items() if b in dict(TASKS['canopy_height'].labels)[n]]
            y = v[m][src == k]
            torch.testing.assert_close(a['label_var']['canopy_height'][m][src == k], g.sd**2 + (g.rel_sd*y)**2, rtol=1e-4, atol=1e-4)
    moved = (a['label_source']['canopy_height'] != p['label_source']['canopy_height']).flatten(1).any(1).float().mean()
    assert moved > 0.3
    for t in ('canopy_height', 'agbd'):                                  # the same pixels, flipped/rotated together
        assert int(a['targets'][t][1].sum()) == int(p['targets'][t][1].sum())
        assert float(a['label_var'][t].sum()) == float(p['label_var'][t].sum()) or \
            abs(float(a['label_var'][t].sum()) / float(p['label_var'][t].sum()) - 1) < 1e-5


def test_label_fraction_keeps_var_and_source(small_store):
    full = ChipDataset(small_store, 'train', tasks=['canopy_height'])[[0, 1, 2]]
    few = ChipDataset(small_store, 'train', tasks=['canopy_height'], label_fraction=0.1)[[0, 1, 2]]
    assert torch.equal(full['label_source']['canopy_height'], few['label_source']['canopy_height'])
    assert few['targets']['canopy_height'][1].sum() < full['targets']['canopy_height'][1].sum()


def test_audit_converted_sources_agree_with_the_truth(small_store):
    audit = label_audit(small_store, 'canopy_height').set_index('source')
    assert {'als_chm', 'gedi_l2a', 'atl08'} <= set(audit.index)
    assert (audit.bias.abs() < np.maximum(1, audit.stated_sd/2)).all(), audit     # within 1 m, or well within the stated noise
    assert (audit.loc[['als_chm', 'tls_plots', 'atl08'], 'bias'].abs() < 1).all(), audit   # the converted sources: within 1 m
    assert audit.loc['als_chm', 'raw_bias'] > audit.loc['als_chm', 'bias'] + 1     # the CHM's percentile stands above the stand
    assert audit.loc['als_chm', 'r'] > 0.95
    soc = label_audit(small_store, 'soc_profile').set_index('source')       # horizons harmonised by the spline
    assert list(soc.index) == ['soil_profiles'] and soc.n.iloc[0] > 20 and abs(soc.bias.iloc[0]) < soc.stated_sd.iloc[0]
    agbd = label_audit(small_store, 'agbd').set_index('source')
    assert set(agbd.index) == {'field_plots', 'tls_plots', 'gedi_l4a'} and (agbd.stated_sd > 0).all()
