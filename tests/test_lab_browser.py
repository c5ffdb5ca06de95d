"""JupyterLab in a headless browser: both explorers, unedited, on a real run of `abc3d run`.

A JupyterLab server on 127.0.0.1 (settings, runtime and workspace folders in a temp folder) serves a copy of
`nbs/explore/`, with `ABC3D_DATA` pointing at the data folder of a fresh `abc3d run` elsewhere;
`tests/browser/lab_explorer.mjs` (playwright-core driving the system Chromium, every request to another host
refused) opens an explorer, runs all cells and checks the leaflet map with its image overlay and a bokeh
figure; in the modality explorer it clicks the map and waits for the picked-pixel cross to move (the click
went through the kernel and back); in the results explorer it looks for the run's own scores on the page.
The screenshots and the script's JSON reports are kept in `tests/artifacts/`."""
import json, os, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BROWSER = ROOT/'tests/browser'
ARTIFACTS = ROOT/'tests/artifacts'
CHROMIUM = Path('/usr/bin/chromium')


def _missing() -> str | None:
    if not CHROMIUM.exists(): return f'{CHROMIUM} is missing (Debian package chromium)'
    if shutil.which('node') is None: return 'node is missing'
    if not (BROWSER/'node_modules/playwright-core').is_dir(): return 'playwright-core is not installed (npm ci in tests/browser)'
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r: return r.status, r.read()


def _pids_with(text: str) -> list[int]:
    "Ids of processes whose command line contains `text` (the server's temp runtime folder names its kernels)."
    out = []
    for p in Path('/proc').iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid(): continue
        try: cmd = (p/'cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace')
        except OSError: continue
        if text in cmd: out.append(int(p.name))
    return out


@pytest.fixture
def lab(tmp_path, main_job):
    "A JupyterLab server on a free loopback port serving a copy of nbs/explore, ABC3D_DATA the data folder of a real run; stopped with its kernels."
    root = tmp_path/'explore'
    shutil.copytree(ROOT/'nbs/explore', root, ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    port, token, run = _free_port(), secrets.token_hex(16), tmp_path/'jupyter'
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(run/'config'), 'JUPYTER_RUNTIME_DIR': str(run/'runtime'),
           'JUPYTERLAB_SETTINGS_DIR': str(run/'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(run/'workspaces'),
           'IPYTHONDIR': str(run/'ipython'), 'ABC3D_PROGRESS': '0', 'MPLBACKEND': 'Agg', 'ABC3D_DATA': str(main_job[0])}
    cmd = [sys.executable, '-m', 'jupyterlab', '--ip', '127.0.0.1', '--port', str(port), '--no-browser', '--allow-root',
           f'--ServerApp.token={token}', f'--ServerApp.root_dir={root}', '--ServerApp.port_retries=0',
           '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    settings = {'apputils-extension/notification': {'fetchNews': 'false', 'checkForUpdates': False},  # no news toasts
                'notebook-extension/tracker': {'windowingMode': 'none'}}  # every cell in the page, seen or not
    for name, value in settings.items():
        f = run/f'settings/@jupyterlab/{name}.jupyterlab-settings'
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    log = open(tmp_path/'jupyter.log', 'w')
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None: pytest.fail(f'jupyter lab exited: {(tmp_path/"jupyter.log").read_text()[-3000:]}')
            try:
                if _get(f'{base}/api/status?token={token}')[0] == 200: break
            except OSError: pass
            if time.time() > deadline: pytest.fail(f'jupyter lab did not answer in 90 s: {(tmp_path/"jupyter.log").read_text()[-3000:]}')
            time.sleep(0.5)
        yield dict(base=base, token=token, root=root, log=tmp_path/'jupyter.log')
    finally:
        try:  # a clean stop: the server shuts its kernels down
            urllib.request.urlopen(urllib.request.Request(f'{base}/api/shutdown?token={token}', method='POST'), timeout=10)
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired): pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try: proc.wait(timeout=10)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        for pid in _pids_with(str(run/'runtime')):  # a kernel left behind (it runs in its own session)
            try: os.kill(pid, signal.SIGKILL)
            except ProcessLookupError: pass
        log.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize('explorer', ['modality_explorer', 'results_explorer'])
def test_explorer_renders_the_run(lab, main_job, explorer):
    why = _missing()
    if why: pytest.skip(why)
    t0 = time.time()
    shot = ARTIFACTS/f'{explorer}.png'
    url = f"{lab['base']}/lab/tree/{explorer}.ipynb?reset&token={lab['token']}"
    r = subprocess.run(['node', str(BROWSER/'lab_explorer.mjs'), url, str(shot), '150'], cwd=BROWSER,
                       capture_output=True, text=True, timeout=200)
    lines = [l for l in r.stdout.splitlines() if l.startswith('{')]
    assert lines, f'no result from the browser script (rc {r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}'
    res = json.loads(lines[-1])
    text = res.pop('text', '').replace('\xa0', ' ')
    (ARTIFACTS/f'{explorer}.json').write_text(json.dumps(res, indent=1))
    context = f"{json.dumps(res, indent=1)[:4000]}\n--- server log ---\n{lab['log'].read_text()[-2000:]}"
    assert 'error' not in res, context
    assert res['output_errors'] == [], context
    assert 'Nothing to show' not in text, context                                   # ABC3D_DATA found the run, no edit needed
    assert res['maps'] and res['maps'][0]['w'] > 200 and res['maps'][0]['h'] > 200, context
    assert any(o['loaded'] and o['data_url'] for o in res['overlays']), context   # a layer of the run drew
    assert res['figures'] > 0 and res['canvases'] > 0, context                      # a bokeh plot drew
    if explorer == 'modality_explorer':
        assert str(main_job[0]/'landscape') in text, context                       # the run's landscape, found through ABC3D_DATA
        assert res['point_paths'] > 10 and res['markers'] > 0, context              # shots and plot markers
        assert res.get('click_moved'), context                                      # a map click reached the kernel and came back
    else:
        cmp = pd.read_csv(main_job[0]/'run'/'comparison.csv')
        value = f"{cmp.model.dropna().iloc[0]:.3f}"
        assert value in text and str(main_job[0]/'run') in text, (value, context)   # the run's own scores, on the page
        assert 'carbon: agc' in text, context                                         # the run's layers in the pickers
    assert shot.exists() and shot.stat().st_size > 20_000, context
    assert time.time() - t0 < 180, f'took {time.time() - t0:.0f} s'
