"""The explorer notebooks run under papermill: the results explorer on a synthetic run folder (complete, and
with pieces missing), whose layout is the one `abc3d` runs write."""
import json
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parents[1]
EXPLORE = ROOT/'nbs/explore'
REGIONS = {'tropical_moist_0': ('EPSG:32720', 816480, 9618390), 'temperate_0': ('EPSG:32632', 460020, 5546010)}


def _log(path, n_steps, names, seed):
    "A Lightning CSVLogger file: train rows every step, val rows every 5 steps, NaN elsewhere."
    rng, rows = np.random.default_rng(seed), []
    for s in range(n_steps):
        rows.append({'step': s, 'epoch': s//5, **{f'train/{k}': 1/(1 + s) + rng.normal(0, .02) for k in names}})
        if s % 5 == 4: rows.append({'step': s, 'epoch': s//5, **{f'val/{k}': 1.2/(1 + s) for k in names}})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def make_run(run, carbon=True, evaluation=True, size=48, seed=0):
    "A run folder with every piece the results explorer reads (carbon and evaluation optional)."
    from abc3d.data.grid import AnalysisGrid
    from abc3d.data.cog import write_cog
    rng = np.random.default_rng(seed)
    _log(run/'pretrain/logs/metrics.csv', 30, ['loss'], seed)
    metrics = {'agbd': dict(n=120., rmse=40.1, bias=-3.2, r2=.71, cov68=.66, cov95=.93, truth_rmse=45., truth_r2=.65, truth_bias=-4.,
                            truth_cov68=.6, truth_cov95=.9),
               'canopy_height': dict(n=300., rmse=4.2, bias=.3, r2=.8, cov68=.7, cov95=.95, truth_rmse=4.5, truth_r2=.78, truth_bias=.2,
                                     truth_cov68=.69, truth_cov95=.94),
               'land_cover': dict(n=9000., miou=.42, f1=.5, accuracy=.88, truth_miou=.41, truth_f1=.49, truth_accuracy=.87)}
    for task, m in metrics.items():
        d = run/f'finetune_{task}_full'
        d.mkdir(parents=True)
        (d/'metrics.json').write_text(json.dumps({task: m}))
        _log(d/'logs/metrics.csv', 20, ['loss', f'loss_{task}'], seed + len(task))
    yy, xx = np.mgrid[0:size, 0:size]
    for region, (crs, x0, y0) in REGIONS.items():
        grid = AnalysisGrid(crs, from_origin(x0, y0, 30, 30), size, size)
        agbd = (150 + 100*np.sin(xx/7)*np.cos(yy/9)).astype('float32')
        agbd[:3, :3] = np.nan
        maps = {'agbd': (agbd[None], ['agbd']), 'agbd_std': ((0.2*agbd + 5)[None], ['agbd_std']),
                'canopy_height': ((agbd/8)[None], ['canopy_height']), 'canopy_height_std': ((agbd/80 + 1)[None], ['canopy_height_std']),
                'canopy_profile': (np.stack([agbd/8*q for q in np.linspace(.1, 1, 10)]), [f'rh{p}' for p in range(10, 101, 10)]),
                'canopy_profile_std': (np.stack([np.full_like(agbd, q) for q in np.linspace(.5, 2, 10)]), [f'rh{p}_std' for p in range(10, 101, 10)])}
        for name, (data, desc) in maps.items():
            write_cog(run/f'predict/maps/{region}/{name}.tif', data.astype('float32'), grid, nodata=float('nan'), descriptions=desc)
        lc = np.where(agbd > 150, 10, 30).astype('uint8')
        write_cog(run/f'predict/maps/{region}/land_cover.tif', lc, grid, nodata=0, descriptions=['land_cover'])
        if carbon:
            agc = 0.47*agbd
            for name, data in {'agc': agc, 'agc_std': 0.2*agc + 2, 'total_carbon': agc*1.6, 'total_carbon_std': 0.25*agc + 3}.items():
                write_cog(run/f'carbon/{region}/{name}.tif', data.astype('float32'), grid, nodata=float('nan'), descriptions=[name])
    if carbon:
        pd.DataFrame([dict(region=r, pool=p, total=t, std=.1*t, units='Mg C') for r in REGIONS
                      for p, t in (('agc', 1.2e5), ('bgc', 3.1e4), ('soc', 2.2e5))]).to_csv(run/'carbon/totals.csv', index=False)
    if evaluation:
        rows = []
        for task, band, scale in (('agbd', 'agbd', 200), ('canopy_height', 'canopy_height', 30)):
            obs = rng.uniform(0, scale, 200)
            rows += [dict(task=task, band=band, region=list(REGIONS)[i % 2], observed=o, predicted=o + rng.normal(0, .15*scale),
                          std=.15*scale) for i, o in enumerate(obs)]
        obs = rng.choice([10, 30], 300)
        rows += [dict(task='land_cover', band='land_cover', region='temperate_0', observed=o,
                      predicted=o if rng.random() < .85 else 40, std=np.nan) for o in obs]
        (run/'evaluation').mkdir(parents=True)
        pd.DataFrame(rows).to_csv(run/'evaluation/pairs.csv', index=False)
        pd.DataFrame([dict(task=t, **{k: v for k, v in m.items() if not k.startswith('truth')}) for t, m in metrics.items()]
                     ).to_csv(run/'evaluation/scores.csv', index=False)
        pd.DataFrame([dict(task='agbd', metric='r2', model=.6123, model_ci='0.52..0.70', gbm=.5512, gbm_ci='0.45..0.64', better='model'),
                      dict(task='land_cover', metric='miou', model=.3, model_ci='0.20..0.40', gbm=.5, gbm_ci='0.40..0.60', better='gbm')]
                     ).to_csv(run/'comparison.csv', index=False)
    return run


def _outputs(nb) -> tuple[str, set]:
    "All text/HTML of a notebook's outputs and widget states, and the set of the outputs' MIME types."
    text, mimes = [json.dumps(nb.metadata.get('widgets', {}))], set()
    for c in nb.cells:
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream': text.append(o['text'])
            for k, v in o.get('data', {}).items():
                mimes.add(k)
                if k in ('text/plain', 'text/html', 'text/markdown'): text.append(v if isinstance(v, str) else ''.join(v))
    return '\n'.join(text), mimes


def _run(nb_name, out, **params):
    papermill = pytest.importorskip('papermill')
    return papermill.execute_notebook(str(EXPLORE/nb_name), str(out), parameters=params, cwd=str(EXPLORE), kernel_name='python3',
                                      progress_bar=False)


def test_results_explorer_full_run(tmp_path):
    run = make_run(tmp_path/'run')
    nb = _run('results_explorer.ipynb', tmp_path/'out.ipynb', run_dir=str(run))
    text, mimes = _outputs(nb)
    assert 'application/vnd.jupyter.widget-view+json' in mimes                 # the side-by-side maps
    assert 'application/vnd.holoviews_exec.v0+json' in mimes                   # bokeh plots
    for want in ('carbon: agc', 'agc_std',                                     # map layers (carbon maps and their std)
                 ':Scatter   [observed]', ':HeatMap', 'pretrain',               # predicted vs observed, training curves
                 'miou', 'rmse', 'cov95',                                      # the per-task metric table
                 'tropical_moist_0', 'soc',                                    # region totals
                 '0.612', '0.45..0.64'):                                       # the scores beside the baseline, first
        assert want in text, want
    assert 'No ' not in text.replace('No data', ''), 'a piece was reported missing'


def test_results_explorer_missing_pieces(tmp_path):
    run = make_run(tmp_path/'run', carbon=False, evaluation=False)
    nb = _run('results_explorer.ipynb', tmp_path/'out.ipynb', run_dir=str(run))
    text, _ = _outputs(nb)
    assert 'No carbon maps' in text and 'No region totals' in text and 'No evaluation pairs' in text
    assert 'rmse' in text and 'map: agbd' in text                            # what is there still shows


def test_results_explorer_reads_the_data_folder(tmp_path, monkeypatch):
    "No parameter: the run of $ABC3D_DATA; no run there: one line that says which command makes one."
    make_run(tmp_path/'data'/'run')
    monkeypatch.setenv('ABC3D_DATA', str(tmp_path/'data'))
    text, _ = _outputs(_run('results_explorer.ipynb', tmp_path/'out.ipynb'))
    assert str(tmp_path/'data'/'run') in text and 'cov95' in text and 'Nothing to show' not in text
    monkeypatch.setenv('ABC3D_DATA', str(tmp_path/'empty'))
    text, _ = _outputs(_run('results_explorer.ipynb', tmp_path/'out2.ipynb'))
    assert 'Nothing to show' in text and 'make run' in text and str(tmp_path/'empty'/'run') in text


def test_modality_explorer_small_landscape(tmp_path, small_landscape):
    "The modality explorer on a landscape folder draws the chosen layer, the shots and the plots."
    nb = _run('modality_explorer.ipynb', tmp_path/'out.ipynb', landscape=str(small_landscape), modality='land_cover', band='class')
    text, mimes = _outputs(nb)
    assert 'application/vnd.jupyter.widget-view+json' in mimes and 'application/vnd.holoviews_exec.v0+json' in mimes
    assert 'land_cover class' in text and 'gedi_l4a agbd' in text


def test_modality_explorer_without_landscape(tmp_path):
    "A folder that is not a landscape: no made-up landscape in its place, one line that says which command builds one."
    text, mimes = _outputs(_run('modality_explorer.ipynb', tmp_path/'out.ipynb', landscape=str(tmp_path/'none')))
    assert 'Nothing to show' in text and 'abc3d twin' in text and 'application/vnd.jupyter.widget-view+json' not in mimes
