"The `abc3d` command as a user runs it: help texts, a landscape of another seed and size, named errors (the main job: test_runs.py)."
import json, os, subprocess, sys
from pathlib import Path
import pytest
from abc3d.cli.main import parser

ABC3D = str(Path(sys.executable).parent/'abc3d')
ENV = {**os.environ, 'ABC3D_PROGRESS': '0'}


def run(*args, cwd=None):
    return subprocess.run([ABC3D, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=900)


@pytest.mark.parametrize('cmd', ['twin', 'chips', 'run', 'predict', 'carbon', 'evaluate', 'bench', 'docs'])
def test_help_describes_every_option(cmd):
    out = run(cmd, '--help')
    assert out.returncode == 0, out.stderr
    sub = next(a for a in parser()._actions if a.dest == 'cmd').choices[cmd]
    for act in sub._actions:
        if act.dest == 'help': continue
        assert act.help and len(act.help) > 10, act.dest
        for opt in act.option_strings: assert opt in out.stdout, opt


def test_landscape_of_another_seed_and_size(tmp_path):
    land = tmp_path/'land'
    out = run('twin', '--out', str(land), '--seed', '7', '--size-px', '128', '--biomes', 'boreal,dry', '--dates', '3')
    assert out.returncode == 0, out.stderr
    man = json.loads((land/'landscape.json').read_text())
    assert man['seed'] == 7 and [r['biome'] for r in man['regions']] == ['boreal', 'dry']
    assert all(r['width'] == r['height'] == 128 and len(r['dates']) == 3 for r in man['regions'])
    out = run('chips', '--landscape', str(land), '--out', str(tmp_path/'c.zarr'), '--block', '1')
    assert out.returncode == 0, out.stderr
    assert 'chips: 8' in out.stdout and 'written' in out.stdout
    assert 'boreal_0: gedi_l2a, gedi_l4a' in out.stdout   # GEDI does not reach 62 N: said, not hidden


def test_bad_input_exits_with_a_named_error(tmp_path):
    out = run('chips', '--landscape', str(tmp_path), '--out', str(tmp_path/'c.zarr'))
    assert out.returncode == 2
    assert f'{tmp_path}: no landscape.json' in out.stderr
