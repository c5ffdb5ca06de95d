// Open an explorer notebook in JupyterLab (headless Chromium), run all its cells and check that the leaflet map
// with its image overlay and a bokeh plot render. Requests to any host but the server are refused, as offline.
// Usage: node lab_explorer.mjs URL SCREENSHOT [TIMEOUT_S]; prints one JSON line.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, shot, timeoutS = '120'] = process.argv.slice(2);
if (!url || !shot) { console.error('usage: node lab_explorer.mjs URL SCREENSHOT [TIMEOUT_S]'); process.exit(2); }
const timeout = Number(timeoutS) * 1000;
const t0 = Date.now();
const since = () => Math.round((Date.now() - t0) / 100) / 10;
const result = { url: url.replace(/token=[^&]+/, 'token=***'), steps: {}, blocked: [], console_errors: [] };

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'abc3d-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  viewport: { width: 1500, height: 1400 },
});
const local = new URL(url).host;
await browser.route('**/*', (route) => {
  const u = new URL(route.request().url());
  if (u.host === local || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
  result.blocked.push(u.host);
  return route.abort();
});

try {
  const page = browser.pages()[0] || await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') result.console_errors.push(m.text().slice(0, 300)); });
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
  await page.locator('.jp-NotebookPanel .jp-Cell').first().waitFor({ timeout });
  result.steps.notebook_open = since();

  // the kernel must be connected and idle (the status bar says so) before "Run All Cells" runs anything
  await page.waitForFunction(() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some((e) => /\| Idle$/.test(e.textContent.trim())),
                             null, { timeout, polling: 250 });
  result.steps.kernel_idle = since();

  const runAll = async () => {
    await page.locator('.jp-NotebookPanel .jp-Notebook').first().click({ position: { x: 5, y: 5 } });
    await page.locator('.lm-MenuBar-itemLabel', { hasText: /^Run$/ }).click();
    await page.locator('.lm-Menu-itemLabel', { hasText: /^Run All Cells$/ }).click();
  };
  const started = () => page.waitForFunction(() => [...document.querySelectorAll('.jp-InputPrompt')].some((e) => /\[(\*|\d+)\]/.test(e.textContent)),
                                             null, { timeout: 15000, polling: 250 }).then(() => true, () => false);
  await runAll();
  if (!(await started())) { result.steps.run_all_retry = since(); await runAll(); }
  result.steps.run_all = since();

  // the map's image overlay, or the first error output (Run All stops there): whichever comes first
  const first = await page.waitForFunction(() => {
    if (document.querySelector('.leaflet-container img.leaflet-image-layer')) return 'map';
    const err = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .find((e) => /Traceback|Error\b/.test(e.innerText));
    return err ? 'error: ' + err.innerText.slice(-1500) : false;
  }, null, { timeout, polling: 250 }).then((h) => h.jsonValue());
  if (first !== 'map') throw new Error(`a cell failed before the map drew: ${first}`);
  result.steps.map = since();
  await page.locator('.bk-Figure').first().waitFor({ state: 'attached', timeout });
  result.steps.plot = since();
  // wait for the last cell to finish (the execution indicator back to idle) and the bokeh canvases to be drawn
  await page.waitForFunction(() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some((e) => /\| Idle$/.test(e.textContent.trim()))
                             && ![...document.querySelectorAll('.jp-InputPrompt')].some((e) => e.textContent.includes('[*]')),
                             null, { timeout, polling: 250 });
  await page.waitForTimeout(1500);
  result.steps.done = since();

  Object.assign(result, await page.evaluate(() => {
    const maps = [...document.querySelectorAll('.leaflet-container')];
    const imgs = [...document.querySelectorAll('.leaflet-container img.leaflet-image-layer')];
    const deep = (root, sel, acc = []) => {           // querySelectorAll through open shadow roots (bokeh renders in them)
      acc.push(...root.querySelectorAll(sel));
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) deep(el.shadowRoot, sel, acc);
      return acc;
    };
    const figures = deep(document, '.bk-Figure');
    const canvases = deep(document, 'canvas').filter((c) => c.width > 50 && c.height > 50);
    const errors = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')]
      .map((e) => e.innerText.slice(0, 400)).filter((t) => /Error|Traceback/.test(t));
    return {
      maps: maps.map((m) => ({ w: m.clientWidth, h: m.clientHeight })),
      overlays: imgs.map((i) => ({ loaded: i.complete && i.naturalWidth > 0, w: i.naturalWidth, h: i.naturalHeight, data_url: i.src.startsWith('data:image/png') })),
      point_paths: document.querySelectorAll('.leaflet-container path.leaflet-interactive').length,
      markers: document.querySelectorAll('.leaflet-container .leaflet-marker-icon').length,
      figures: figures.length,
      canvases: canvases.length,
      widget_errors: document.querySelectorAll('.jp-OutputArea-output .jupyter-widgets .widget-error, .jupyter-widgets-disconnected').length,
      text: [...document.querySelectorAll('.jp-OutputArea-output')].map((e) => e.innerText).join('\n').slice(0, 200000)
            + '\n' + [...document.querySelectorAll('.jp-OutputArea-output select option')].map((o) => o.textContent).join('\n'),
      output_errors: errors,
    };
  }));

  // the picture: code hidden, the explorer (controls, map, plots) at the top of the view
  await page.locator('.lm-MenuBar-itemLabel', { hasText: /^View$/ }).click();
  const collapse = page.locator('.lm-Menu-itemLabel', { hasText: /^Collapse All Code$/ });
  if (await collapse.count()) await collapse.click(); else await page.keyboard.press('Escape');
  const side = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current');
  if (await side.count()) await side.first().click();
  for (let i = 0; i < 3; i++) {  // the layout settles as outputs collapse: scroll until the controls above the map lead the view
    await page.locator('.leaflet-container').first().evaluate((el) => {
      el.scrollIntoView({ block: 'start' });
      const box = el.closest('.jp-WindowedPanel-outer') || el.closest('.jp-Notebook');
      box?.scrollBy(0, -90);
    });
    await page.waitForTimeout(700);
  }
  // a click on the map goes through the kernel and back: the cross marking the picked pixel moves
  const cross = page.locator('.leaflet-marker-icon[title="picked pixel"]');
  if (await cross.count()) {
    const before = await cross.first().evaluate((e) => e.style.transform);
    const box = await page.locator('.leaflet-container img.leaflet-image-layer').first().boundingBox();  // in view (scrolled above)
    result.click_moved = false;
    for (const [fx, fy] of [[0.3, 0.7], [0.7, 0.3], [0.55, 0.55]]) {
      await page.mouse.click(box.x + fx * box.width, box.y + fy * box.height);
      result.click_moved = await page.waitForFunction((b) => document.querySelector('.leaflet-marker-icon[title="picked pixel"]')?.style.transform !== b,
                                                       before, { timeout: 15000, polling: 250 }).then(() => true, () => false);
      if (result.click_moved) break;
    }
    await page.waitForTimeout(4000);   // the picked pixel's plots redraw
  }

  fs.mkdirSync(path.dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  result.screenshot = shot;
  result.ok = result.maps.length > 0 && result.overlays.some((o) => o.loaded) && result.figures > 0 && result.canvases > 0
              && result.click_moved !== false;
} catch (e) {
  result.ok = false;
  result.error = String(e).slice(0, 2000);
  try { await browser.pages()[0].screenshot({ path: shot }); result.screenshot = shot; } catch {}
} finally {
  result.seconds = since();
  result.blocked = [...new Set(result.blocked)];
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(JSON.stringify(result));
}
