// Open a run's report.html in headless Chromium at 1400x900 and say what the first screen shows: where the
// scores table and the carbon totals end, the page's title and width; every request to another host refused.
// usage: node report_screen.mjs <report.html path> <screenshot.png>
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [report, shot] = process.argv.slice(2);
if (!report || !shot) { console.error('usage: node report_screen.mjs <report.html> <screenshot.png>'); process.exit(2); }
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
const res = { foreign_requests: [] };
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  await page.route('**/*', (r) => { const u = r.request().url(); if (u.startsWith('file:') || u.startsWith('data:')) return r.continue();
    res.foreign_requests.push(u); return r.abort(); });
  await page.goto(pathToFileURL(report).href);
  Object.assign(res, await page.evaluate(() => {
    const box = (h) => { const e = [...document.querySelectorAll('.lead h2')].find((x) => x.textContent.startsWith(h));
      const t = e?.nextElementSibling; return t ? { top: e.getBoundingClientRect().top, bottom: t.getBoundingClientRect().bottom, text: t.innerText } : null; };
    return { title: document.title, scroll_width: document.documentElement.scrollWidth, scores: box('Held-out scores'), totals: box('Carbon totals') };
  }));
  await page.screenshot({ path: shot });
} finally { await browser.close(); }
console.log(JSON.stringify(res));
