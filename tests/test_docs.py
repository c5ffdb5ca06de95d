"The documentation site: every page `_quarto.yml` lists is built offline, and the site works in Chromium from a web server and from disk."
import functools, json, shutil, subprocess, threading, warnings
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
import pytest
from abc3d.tools.docs import build_docs, read_site

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT/'tests'/'browser'/'docs_nav.mjs'
ARTIFACTS = ROOT/'tests'/'artifacts'
CHROMIUM = Path('/usr/bin/chromium')


def _browser_missing() -> str|None:
    "Why the browser test cannot run here, or None."
    if not CHROMIUM.exists(): return f"no Chromium at {CHROMIUM} (Debian package `chromium`)"
    if not shutil.which('node'): return "no `node` on PATH (Node.js runs the browser driver)"
    if not (DRIVER.parent/'node_modules'/'playwright-core').is_dir(): return "playwright-core is not installed: run `npm ci` in tests/browser"
    return None


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The project's site built into a temporary folder, with the warnings of the build."
    out = tmp_path_factory.mktemp('docs')/'_docs'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        res = build_docs(ROOT, out=out)
    return out, res, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def test_every_listed_page_is_built(site):
    out, res, _ = site
    s = read_site(ROOT)
    missing = [p for p in s.pages if not (out/PurePosixPath(p).with_suffix('.html')).is_file()]
    assert not missing, f"pages listed in _quarto.yml without an HTML page: {missing}"
    assert res['pages'] == len(s.pages)
    assert (out/'index.html').is_file() and (out/res['home']).is_file()


def test_pages_link_only_within_the_site(site):
    "No page links to a missing page or file, and none loads anything from another host."
    _, _, warned = site
    bad = [w for w in warned if 'links to' in w or 'from another host' in w]
    assert not bad, '\n'.join(bad)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):   # a browser that drops a connection is no error here
        pass


@pytest.fixture(scope='module')
def server(site):
    "The built site served over HTTP on a free port of 127.0.0.1."
    out = site[0]
    srv = _Server(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown(); srv.server_close()


def _browse(url:str, screenshot:Path|None=None) -> dict:
    "Walk the site in headless Chromium (tests/browser/docs_nav.mjs) from its home page `url`."
    cmd = ['node', str(DRIVER), '--url', url] + (['--screenshot', str(screenshot)] if screenshot else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=DRIVER.parent)
    assert p.stdout.strip(), f"the browser driver printed nothing (exit {p.returncode}):\n{p.stderr[-3000:]}"
    return json.loads(p.stdout)


def _sidebar_pages() -> set[str]:
    return {str(PurePosixPath(p).with_suffix('.html')) for p in read_site(ROOT).sidebar_pages}


def _check(res:dict, base:str):
    failed = [(p['text'], p.get('problems')) for p in res['pages'] if not p['ok'] and not p.get('skipped')]
    assert not failed, f"pages that did not work: {failed}"
    visited = {p['href'].removeprefix(base) for p in res['pages'] if p['ok']}
    assert visited == _sidebar_pages(), f"sidebar pages not visited: {_sidebar_pages() - visited}"
    assert res['chain_complete'], f"previous/next links do not lead through every page once: {res['chain']}"
    assert not res['broken_links'], res['broken_links']
    assert not res['foreign_requests'], f"requests to other hosts: {res['foreign_requests']}"
    assert not res['errors'], res['errors']
    assert res['ok']
    pages = {PurePosixPath(p['href']).stem: p for p in res['pages'] if p['ok']}
    assert pages['getting_started']['figures'] >= 1, pages['getting_started']       # a rendered map, not only code
    for ref in ('12_grid', '10_catalog', '64_explore'):                             # reference pages: cards, no checks
        assert pages[ref]['sigcards'] >= 2 and not pages[ref]['test_calls'], pages[ref]
        assert pages[ref]['source_link'] and pages[ref]['source_link'].endswith('.ipynb'), pages[ref]
    assert res['search']['hits'] >= 1 and res['search'].get('landed', '').startswith(base), res['search']   # the offline search finds a page


@pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or '')
def test_site_in_chromium_over_http(server):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS/'docs_home.png'
    res = _browse(server + 'index.html', shot)
    assert res['home_status'] == 200 and res['landed'].startswith(server)
    _check(res, server)
    assert shot.stat().st_size > 10_000


@pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or '')
def test_site_in_chromium_from_disk(site):
    base = site[0].as_uri() + '/'
    _check(_browse(base + 'index.html'), base)
