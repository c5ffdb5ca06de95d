"""The bad-input matrix: malformed arguments, files and stores across the `abc3d` commands, each run as a user
runs it (`abc3d.cli.main` with the command line), with what it printed and what it left behind.

    python tests/badinput.py [WORKDIR]      # prints the table (also `make bad-input`)

A row is *clear* when the command exits non-zero with one line on stderr that starts with `abc3d` and no
traceback, and *nothing corrupted* when no output exists under its final name and the files that were there
before (the landscape, a good chip store, a finished run) are byte for byte what they were."""
from __future__ import annotations
import contextlib, hashlib, io, json, os, shutil, struct, sys, tempfile
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault('ABC3D_PROGRESS', '0')
import pyproj  # noqa: F401,E402  (bind PROJ before any eccodes import)


@dataclass
class Case:
    name: str                       # what is wrong
    argv: list                      # the command line after `abc3d`
    absent: list = field(default_factory=list)     # paths that must not exist afterwards (final-named outputs)
    says: str = ''                  # a phrase the error line must contain (the option, file or value it names)


def tree_digest(*roots) -> str:
    "SHA-256 over every file (path and bytes) under `roots`."
    h = hashlib.sha256()
    for r in roots:
        for f in sorted(Path(r).rglob('*')):
            if f.is_file(): h.update(str(f.relative_to(r)).encode()); h.update(f.read_bytes())
    return h.hexdigest()


def prepare(w:Path) -> dict:
    "A small landscape and its chip store, and the bad files the cases use; returns their paths."
    from abc3d.sim.landscape import build_landscape
    from abc3d.sim.truth import RegionSpec
    from abc3d.data.chips import build_chips
    land = build_landscape(w/'landscape', regions=[RegionSpec('temperate_0', 'temperate', size_px=128)], seed=5, n_dates=2)
    store = w/'chips.zarr'
    build_chips(land, store, block=1)
    p = dict(land=land, store=store, w=w)
    cat = (Path(__file__).resolve().parents[1]/'data_catalog.yaml').read_text()
    (w/'bad').mkdir(exist_ok=True)
    def put(name, text): (w/'bad'/name).write_text(text); return w/'bad'/name
    p['cat_nm'] = put('nm.yaml', cat.replace('center_wavelength: 0.655, full_width_half_max: 0.037', 'center_wavelength: 655, full_width_half_max: 37'))
    p['cat_key'] = put('key.yaml', cat.replace('    gsd: 12\n', '    gsd: 12\n    gds: 12\n', 1))
    p['cat_yaml'] = put('broken.yaml', 'modalities: [unclosed\n')
    p['cfg_type'] = put('type.yaml', 'batch_size: eight\n')
    p['cfg_key'] = put('unknown.yaml', 'taks: agbd\n')
    p['cfg_list'] = put('list.yaml', '- agbd\n')
    p['pickle'] = w/'bad'/'model.safetensors'; p['pickle'].write_bytes(b'\x80\x04\x95' + b'\x00' * 64)          # a pickle, not safetensors
    hdr = b'{"w": {"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 4000000000]}}'
    p['forged'] = w/'bad'/'forged.safetensors'; p['forged'].write_bytes(struct.pack('<Q', len(hdr)) + hdr + b'\x00' * 16)
    p['empty'] = w/'bad'/'empty.safetensors'; p['empty'].write_bytes(b'')
    for k in ('pickle', 'forged', 'empty'):          # each with its NAME.json and the right hash: the loader itself must refuse it
        f = p[k]; f.with_suffix('.json').write_text(json.dumps({'config': {}, 'sha256': hashlib.sha256(f.read_bytes()).hexdigest()}))
    # a landscape whose manifest is cut short, one without a region folder
    cut = w/'cut_landscape'; cut.mkdir(exist_ok=True)
    (cut/'landscape.json').write_text((land/'landscape.json').read_text()[:200])
    # a run folder whose checkpoint is a pickle
    run = w/'run_pickle'; (run/'checkpoints').mkdir(parents=True, exist_ok=True)
    (run/'checkpoints'/'last.ckpt').write_bytes(b'\x80\x04\x95' + b'\x00' * 64)
    p['run_pickle'] = run
    # damaged copies of the good store: a shard deleted, a modality deleted, bytes changed at the same size
    from abc3d.data.store import open_store
    _, meta = open_store(store)
    files = sorted(meta.get('files', {}))
    for kind in ('shard', 'modality', 'bytes'):
        d = w/f'store_{kind}'
        if d.exists(): shutil.rmtree(d)
        shutil.copytree(store, d)
        if kind == 'shard': (d/next(f for f in files if f.startswith('hls/data/'))).unlink()
        elif kind == 'modality': shutil.rmtree(d/'glo30')
        else:
            f = d/next(f for f in files if f.startswith('hls/data/'))
            b = bytearray(f.read_bytes()); b[len(b)//2] ^= 0xFF; f.write_bytes(bytes(b))
        p[f'store_{kind}'] = d
    p['file'] = w/'bad'/'a_file'; p['file'].write_text('not a folder')
    # landscapes with a truncated airborne point cloud, or a soil horizon table whose horizon ends above its top
    for kind in ('laz', 'soil'):
        d = w/f'landscape_{kind}'
        if d.exists(): shutil.rmtree(d)
        shutil.copytree(land, d)
        if kind == 'laz':
            f = next((d/'temperate_0'/'als').glob('*.laz')); f.write_bytes(f.read_bytes()[:len(f.read_bytes())//3])
        else:
            import geopandas as gpd
            f = d/'temperate_0'/'plots'/'soil_horizons.parquet'
            g = gpd.read_parquet(f); g.loc[1, 'bottom_cm'] = g.loc[1, 'top_cm'] - 5; g.to_parquet(f)
        p[f'land_{kind}'] = d
    # a point cloud without CRS, a truncated one, and a horizon table with an overlap
    import laspy, numpy as np
    h = laspy.LasHeader(point_format=1, version='1.2'); h.scales = np.array([.01, .01, .01])
    las = laspy.LasData(h); las.x, las.y, las.z = np.arange(10.), np.arange(10.), np.zeros(10); las.classification = np.full(10, 2, np.uint8)
    p['las_nocrs'] = w/'bad'/'nocrs.las'; las.write(p['las_nocrs'])
    lazf = next((Path(land)/'temperate_0'/'als').glob('*.laz'))
    p['laz_cut'] = w/'bad'/'cut.laz'; p['laz_cut'].write_bytes(lazf.read_bytes()[:lazf.stat().st_size//2])
    p['soil_overlap'] = put('horizons.csv', '# profile table\nprofile_id,top_cm,bottom_cm,oc_g_kg,bd_g_cm3\nA,0,30,20,1.3\nA,20,60,5,1.4\n')
    return p


def cases(p:dict) -> list[Case]:
    w, land, store = p['w'], str(p['land']), str(p['store'])
    o = lambda n: w/'out'/n                          # a fresh output path per case
    return [
        # twin
        Case('no dates', ['twin', '--dates', '0', '--out', o('t1')], [o('t1')], '--dates'),
        Case('negative size', ['twin', '--size-px', '-5', '--out', o('t2')], [o('t2')], '--size-px'),
        Case('unknown biome', ['twin', '--biomes', 'taiga', '--out', o('t3')], [o('t3')], 'taiga'),
        Case('zero resolution', ['twin', '--res', '0', '--out', o('t4')], [o('t4')], '--res'),
        Case('zero block', ['twin', '--block', '0', '--out', o('t5')], [o('t5')], '--block'),
        Case('negative seed', ['twin', '--seed', '-1', '--out', o('t6')], [o('t6')], '--seed'),
        Case('size not a number', ['twin', '--size-px', 'big', '--out', o('t7')], [o('t7')], "'big'"),
        # chips
        Case('chip size 0', ['chips', '--landscape', land, '--chip-size', '0', '--out', o('c1')], [o('c1')], '--chip-size'),
        Case('fractions over 1', ['chips', '--landscape', land, '--fractions', '0.5,0.6,0.2', '--out', o('c2')], [o('c2')], '--fractions'),
        Case('two fractions', ['chips', '--landscape', land, '--fractions', '0.5,0.5', '--out', o('c3')], [o('c3')], '--fractions'),
        Case('block 0', ['chips', '--landscape', land, '--block', '0', '--out', o('c4')], [o('c4')], '--block'),
        Case('no landscape', ['chips', '--landscape', w/'nowhere', '--out', o('c5')], [o('c5')], 'no landscape.json'),
        Case('truncated landscape.json', ['chips', '--landscape', w/'cut_landscape', '--out', o('c6')], [o('c6')], 'landscape.json'),
        Case('missing catalog', ['chips', '--landscape', land, '--catalog', w/'nothing.yaml', '--out', o('c7')], [o('c7')], 'nothing.yaml'),
        Case('catalog not YAML', ['chips', '--landscape', land, '--catalog', p['cat_yaml'], '--out', o('c8')], [o('c8')], 'broken.yaml'),
        Case('unknown modality', ['chips', '--landscape', land, '--modalities', 'hls,lidar9', '--out', o('c9')], [o('c9')], 'lidar9'),
        Case('negative workers', ['chips', '--landscape', land, '--workers', '-1', '--out', o('c10')], [o('c10')], '--workers'),
        Case('store with a shard deleted', ['chips', '--landscape', land, '--verify', '--out', p['store_shard']], [], 'missing'),
        Case('store with a modality deleted', ['chips', '--landscape', land, '--verify', '--out', p['store_modality']], [], 'glo30'),
        Case('store with changed bytes', ['chips', '--landscape', land, '--verify', '--out', p['store_bytes']], [], 'CRC-32'),
        Case('truncated airborne point cloud', ['chips', '--landscape', p['land_laz'], '--out', o('c11')], [o('c11')], '.laz'),
        Case('soil horizon ending above its top', ['chips', '--landscape', p['land_soil'], '--out', o('c12')], [o('c12')], 'soil_horizons.parquet'),
        # lidar, soil
        Case('point cloud without CRS', ['lidar', p['las_nocrs'], '--out', o('l1')], [o('l1')/'als_metrics_30m.tif'], 'no CRS'),
        Case('truncated point cloud', ['lidar', p['laz_cut'], '--out', o('l2')], [o('l2')/'als_metrics_30m.tif'], 'cut.laz'),
        Case('fine cell not dividing the pixel', ['lidar', p['las_nocrs'], '--crs', 'EPSG:32632', '--fine', '7', '--out', o('l3')], [o('l3')/'als_metrics_30m.tif'], 'multiple'),
        Case('overlapping horizons', ['soil', p['soil_overlap'], '--out', o('s2.csv')], [o('s2.csv')], 'line 4'),
        # catalog
        Case('wavelengths in nm', ['catalog', '--catalog', p['cat_nm']], [], 'nanometres'),
        Case('unknown catalog key', ['catalog', '--catalog', p['cat_key']], [], "'gds'"),
        Case('catalog root without files', ['catalog', '--root', w/'nowhere', '--check-files'], [], 'matches no file'),
        # pretrain / finetune
        Case('mask ratio 1.5', ['pretrain', '--store', store, '--mask-ratio', '1.5', '--out', o('p1')], [o('p1')], '--mask-ratio'),
        Case('unknown preset', ['pretrain', '--store', store, '--preset', 'giant', '--out', o('p2')], [o('p2')], '--preset'),
        Case('unknown task', ['finetune', '--store', store, '--task', 'agbd,biomass', '--out', o('f1')], [o('f1')], '--task'),
        Case('unknown mode', ['finetune', '--store', store, '--mode', 'half', '--out', o('f2')], [o('f2')], '--mode'),
        Case('batch size 0', ['finetune', '--store', store, '--batch-size', '0', '--out', o('f3')], [o('f3')], '--batch-size'),
        Case('negative lr', ['finetune', '--store', store, '--lr', '-1', '--out', o('f4')], [o('f4')], '--lr'),
        Case('label fraction 1.5', ['finetune', '--store', store, '--label-fraction', '1.5', '--out', o('f5')], [o('f5')], '--label-fraction'),
        Case('config value of the wrong type', ['finetune', '--store', store, '--config', p['cfg_type'], '--out', o('f6')], [o('f6')], 'type.yaml'),
        Case('config with an unknown key', ['finetune', '--store', store, '--config', p['cfg_key'], '--out', o('f7')], [o('f7')], "'taks'"),
        Case('config not a mapping', ['finetune', '--store', store, '--config', p['cfg_list'], '--out', o('f8')], [o('f8')], 'list.yaml'),
        Case('missing config', ['finetune', '--store', store, '--config', w/'none.yaml', '--out', o('f9')], [o('f9')], 'none.yaml'),
        Case('no chip store', ['finetune', '--store', w/'nostore.zarr', '--out', o('f10')], [o('f10')], 'nostore.zarr'),
        Case('train on a store with a shard deleted', ['finetune', '--store', p['store_shard'], '--max-steps', '1', '--out', o('f11')], [o('f11')], 'missing'),
        Case('train on a store with a modality deleted', ['finetune', '--store', p['store_modality'], '--max-steps', '1', '--out', o('f12')], [o('f12')], 'glo30'),
        Case('a pickle as last.ckpt', ['finetune', '--store', store, '--resume', '--max-steps', '1', '--pretrained', 'none', '--out', p['run_pickle']], [p['run_pickle']/'model.safetensors'], 'last.ckpt'),
        Case('a missing encoder export', ['finetune', '--store', store, '--pretrained', w/'enc.safetensors', '--max-steps', '1', '--out', o('f13')], [o('f13')/'model.safetensors'], 'enc'),
        # predict
        Case('negative batch size', ['predict', '--model', p['pickle'], '--landscape', land, '--batch-size', '-3', '--out', o('r1')], [o('r1')], '--batch-size'),
        Case('negative overlap', ['predict', '--model', p['pickle'], '--landscape', land, '--overlap', '-1', '--out', o('r2')], [o('r2')], '--overlap'),
        Case('device gpu', ['predict', '--model', p['pickle'], '--landscape', land, '--device', 'gpu', '--out', o('r3')], [o('r3')], '--device'),
        Case('stop after 0', ['predict', '--model', p['pickle'], '--landscape', land, '--stop-after', '0', '--out', o('r4')], [o('r4')], '--stop-after'),
        Case('missing model', ['predict', '--model', w/'none.safetensors', '--landscape', land, '--out', o('r5')], [o('r5')/'maps', o('r5')/'stac'], 'none.safetensors'),
        Case('a pickle as model', ['predict', '--model', p['pickle'], '--landscape', land, '--out', o('r6')], [o('r6')/'maps', o('r6')/'stac'], 'model.safetensors'),
        Case('forged safetensors header', ['predict', '--model', p['forged'], '--landscape', land, '--out', o('r7')], [o('r7')/'maps', o('r7')/'stac'], 'forged.safetensors'),
        Case('empty model file', ['predict', '--model', p['empty'], '--landscape', land, '--out', o('r8')], [o('r8')/'maps', o('r8')/'stac'], 'empty.safetensors'),
        # evaluate, carbon, tiles
        Case('negative bootstrap', ['evaluate', w/'nopred', '--n-boot', '-5'], [], '--n-boot'),
        Case('no predictions to evaluate', ['evaluate', w/'nopred', '--store', store, '--out', o('e1')], [o('e1')], 'nopred'),
        Case('no predictions for carbon', ['carbon', w/'nopred', '--out', o('k1')], [o('k1')], 'nopred'),
        Case('unknown zone', ['carbon', w/'nopred', '--zone', 'taiga', '--out', o('k2')], [o('k2')], ''),
        Case('tile index out of the plan', ['tiles', 'run', w/'noplan', '--model', p['pickle'], '--index', '3'], [], 'noplan'),
        Case('negative tile index', ['tiles', 'run', w/'noplan', '--model', p['pickle'], '--index', '-1'], [], '--index'),
        # the rest of the CLI
        Case('bench size 0', ['bench', 'predict', '--sizes', '0'], [], '--sizes'),
        Case('study fraction 0', ['study', '--fractions', '1,0', '--out', o('s1')], [o('s1')], '--fractions'),
        Case('unknown run notebook', ['notebook', 'train', w/'rec.ipynb'], [w/'rec.ipynb'], 'train'),
        Case('unknown command', ['trian'], [], 'trian'),
    ]


def run_case(c:Case) -> dict:
    "Run one case in this process; what a user sees and what it left."
    from abc3d.cli.main import main
    err, out = io.StringIO(), io.StringIO()
    tb = ''
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try: main([str(a) for a in c.argv]); code = 0
        except SystemExit as e: code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:                     # escaped main: what a user would see as a traceback
            import traceback
            tb, code = traceback.format_exc(), 1
    lines = [l for l in err.getvalue().splitlines() if l.strip()]
    first = lines[-1] if lines else ''
    clear = code != 0 and not tb and 'Traceback' not in err.getvalue() and len(lines) == 1 and first.startswith('abc3d') \
        and (not c.says or c.says in first)
    left = [str(a) for a in c.absent if Path(a).exists()]
    return dict(case=c.name, command=' '.join(str(a) for a in c.argv[:2]), exit=code, first_line=(first or (tb.strip().splitlines() or [''])[-1])[:160],
                clear=clear, left=left)


def run_matrix(workdir=None) -> list[dict]:
    w = Path(workdir or tempfile.mkdtemp(prefix='abc3d-badinput-'))
    p = prepare(w)
    kept = {k: tree_digest(p[k]) for k in ('land', 'store')}
    rows = []
    for c in cases(p):
        r = run_case(c)
        now = {k: tree_digest(p[k]) for k in kept}
        r['nothing_corrupted'] = not r.pop('left') and now == kept
        rows.append(r)
    return rows


def format_matrix(rows:list[dict]) -> str:
    import pandas as pd
    df = pd.DataFrame(rows)[['case', 'command', 'exit', 'clear', 'nothing_corrupted', 'first_line']]
    with pd.option_context('display.width', 250, 'display.max_colwidth', 110, 'display.max_rows', 200):
        return df.to_string(index=False) + f"\n{len(df)} cases: {int(df.clear.sum())} clear, {int(df.nothing_corrupted.sum())} with nothing corrupted"


if __name__ == '__main__':
    rows = run_matrix(sys.argv[1] if len(sys.argv) > 1 else None)
    print(format_matrix(rows))
    sys.exit(0 if all(r['clear'] and r['nothing_corrupted'] for r in rows) else 1)
