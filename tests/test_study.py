"`abc3d study --quick` and `abc3d baseline gbm` as a user runs them: every method's maps scored by the same evaluation, the oracle at 1 and the constant predictor at 0 of the normalised scale."
import json, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd
import pytest

ABC3D = str(Path(sys.executable).parent/'abc3d')
ENV = {**os.environ, 'ABC3D_PROGRESS': '0'}


def run(*args):
    return subprocess.run([ABC3D, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=1800)


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp('study')
    out = run('twin', '--out', d/'land', '--seed', '5', '--size-px', '192', '--biomes', 'temperate,tropical_moist', '--dates', '2')
    assert out.returncode == 0, out.stderr
    out = run('chips', '--landscape', d/'land', '--out', d/'chips.zarr')
    assert out.returncode == 0, out.stderr
    return d


def test_quick_study(small):
    d = small
    out = run('study', '--quick', '--out', d/'study', '--landscape', d/'land', '--store', d/'chips.zarr')
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'IQM of normalised scores' in out.stdout and 'label fraction 0.1' in out.stdout
    long = pd.read_csv(d/'study'/'study.csv')
    methods = ['constant', 'full', 'gbm', 'oracle', 'scratch', 'unet']
    assert sorted(long.method.unique()) == methods
    tasks = ['agbd', 'canopy_height', 'disturbance', 'land_cover']
    # the shape: every method x fraction x seed x task has its metrics (references at fraction 1 only)
    cells = long.groupby(['method', 'fraction', 'seed']).task.nunique()
    assert (cells == len(tasks)).all() and len(cells) == 4 * 2 + 2
    assert {'r2', 'rmse', 'cov68', 'cov95', 'sharpness', 'miou', 'f1', 'normalised', 'ci_low', 'ci_high'} <= set(long.metric)
    # every method's maps went through abc3d evaluate's files
    for m in methods:
        for f in ([1.0, 0.1] if m not in ('oracle', 'constant') else [1.0]):
            cell = d/'study'/'cells'/f'{m}_f{f:g}_s0'
            assert (cell/'predict'/'maps'/'temperate_0'/'agbd_std.tif').exists()
            assert set(pd.read_csv(cell/'evaluation'/'scores.csv').task) == set(tasks)
    table = pd.read_csv(d/'study'/'table.csv').set_index(['method', 'task', 'fraction'])
    scored = [t for t in tasks if np.isfinite(table.loc[('oracle', t, 1.0), 'normalised'])]
    assert len(scored) >= 3
    for t in scored:
        assert abs(table.loc[('oracle', t, 1.0), 'normalised'] - 1) < 1e-3, t
        assert abs(table.loc[('constant', t, 1.0), 'normalised']) < 1e-6, t
    assert {'fractions.png', 'reliability.png', 'scatter.png'} <= {p.name for p in (d/'study').glob('*.png')}
    budget = pd.read_csv(d/'study'/'summary.csv').set_index(['method', 'fraction'])
    assert budget.loc[('unet', 1.0), 'train_steps'] == budget.loc[('full', 1.0), 'train_steps'] == budget.loc[('scratch', 1.0), 'train_steps'] == 3
    # resumable: a second run reuses every cell
    again = run('study', '--quick', '--out', d/'study', '--landscape', d/'land', '--store', d/'chips.zarr')
    assert again.returncode == 0 and pd.read_csv(d/'study'/'study.csv').equals(long)


def test_baseline_gbm_and_bad_fraction(small):
    d = small
    out = run('baseline', 'gbm', '--store', d/'chips.zarr', '--landscape', d/'land', '--out', d/'gbm', '--tasks', 'agbd', '--n-estimators', '20')
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((d/'gbm'/'stac'/'temperate_0.json').read_text())['assets']['agbd_std']
    ev = run('evaluate', d/'gbm', '--store', d/'chips.zarr', '--n-boot', '50')
    assert ev.returncode == 0 and 'agbd' in ev.stdout
    bad = run('study', '--quick', '--fractions', '0,1', '--out', d/'bad', '--landscape', d/'land', '--store', d/'chips.zarr')
    assert bad.returncode == 2 and '--fractions: must be in (0, 1]' in bad.stderr


def test_pretraining_on_a_corpus(small):
    "`abc3d corpus` builds unlabelled chips of other places; the study pretrains on them, and again on the task's store when told to."
    d = small
    out = run('corpus', '--out', d/'corpus', '--biomes', 'dry,boreal', '--per-biome', '1', '--size-px', '192', '--dates', '2')
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'corpus: 2 regions (boreal, dry), seed 1, 18 chips' in out.stdout and 'abc3d pretrain --store' in out.stdout
    from abc3d.data.store import open_store
    corpus = open_store(d/'corpus'/'chips.zarr')[1]
    assert [r['name'] for r in corpus['regions']] == ['dry_c0', 'boreal_c0']
    args = ['study', '--quick', '--methods', 'full', '--fractions', '1', '--out', d/'sc', '--landscape', d/'land', '--store', d/'chips.zarr']
    out = run(*args, '--pretrain-store', d/'corpus'/'chips.zarr')
    assert out.returncode == 0, out.stderr[-3000:]
    enc = json.loads((d/'sc'/'pretrain'/'encoder.json').read_text())['config']
    assert enc['store'] == str(d/'corpus'/'chips.zarr') and enc['norm']['hls']['mean'] == corpus['modalities']['hls']['mean']
    model = json.loads((d/'sc'/'cells'/'full_f1_s0'/'run'/'model.json').read_text())['config']
    assert model['inputs']['hls']['mean'] == corpus['modalities']['hls']['mean']      # fine-tuned and mapped with the corpus's statistics
    key = json.loads((d/'sc'/'cells'/'full_f1_s0'/'cell.json').read_text())['key']
    out = run(*args)                                  # the same folder, pretrained on the task's store: pretraining and the cell are redone
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((d/'sc'/'pretrain'/'encoder.json').read_text())['config']['store'] == str(d/'chips.zarr')
    assert json.loads((d/'sc'/'cells'/'full_f1_s0'/'cell.json').read_text())['key']['encoder'] != key['encoder']


def test_a_task_without_training_labels_has_no_map_and_scores_as_the_constant(small):
    # at 1 % of the labels the small landscape keeps no root-biomass label: no head is trained on nothing, no map is made,
    # and the study counts the task as the constant predictor (normalised 0) rather than dropping it from the IQM
    d = small
    out = run('study', '--quick', '--methods', 'scratch,gbm', '--fractions', '0.01', '--tasks', 'agbd,bgb', '--out', d/'few',
              '--landscape', d/'land', '--store', d/'chips.zarr')
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'fewer than 2 training labels of bgb at label_fraction 0.01: no head and no map for it' in out.stdout
    for m in ('scratch', 'gbm'):
        cell = d/'few'/'cells'/f'{m}_f0.01_s0'
        assert (cell/'predict'/'maps'/'temperate_0'/'agbd.tif').exists() and not (cell/'predict'/'maps'/'temperate_0'/'bgb.tif').exists()
        scores = pd.read_csv(cell/'evaluation'/'scores.csv').set_index('task')
        assert scores.loc['bgb', 'missing'] and scores.loc['bgb', 'normalised'] == 0 and not scores.loc['agbd', 'missing']
        summary = json.loads((cell/'cell.json').read_text())['iqm']
        assert summary['tasks'] == 2 and summary['missing'] == ['bgb']
    result = json.loads((d/'few'/'cells'/'scratch_f0.01_s0'/'run'/'result.json').read_text())
    assert result['unlabelled'] == ['bgb']
    # a fine-tuning with no label of any of its tasks stops with a one-line error and writes no model
    bad = run('finetune', '--store', d/'chips.zarr', '--task', 'bgb', '--label-fraction', '0.01', '--pretrained', 'none',
              '--max-steps', '1', '--out', d/'none')
    assert bad.returncode != 0 and 'fewer than 2 training labels of bgb at label_fraction 0.01: nothing to fine-tune' in bad.stderr
    assert not list((d/'none').rglob('model.safetensors'))
