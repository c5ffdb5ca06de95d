// Open the built documentation site in headless Chromium and walk it as a reader does: the home page,
// every sidebar link (clicked), the previous/next chain, every link between pages, every image.
// usage: node docs_nav.mjs --url <home page URL (http://127.0.0.1:PORT/index.html or file:///.../index.html)>
//                          [--screenshot home.png]
// Prints one JSON object; exits 1 if any check failed.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const home = arg('url');
const shot = arg('screenshot');
if (!home) { console.error('usage: node docs_nav.mjs --url <home URL> [--screenshot file.png]'); process.exit(2); }
const base = new URL(home);
const sameSite = (u) => { const x = new URL(u); return base.protocol === 'file:' ? x.protocol === 'file:' : x.origin === base.origin; };
const noHash = (u) => u.split('#')[0];

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
const result = { home, ok: false, pages: [], chain: [], links_checked: 0, broken_links: [], foreign_requests: [], errors: [] };
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on('request', (r) => { const u = r.url(); if (!u.startsWith('data:') && !sameSite(u)) result.foreign_requests.push(u); });
  page.on('pageerror', (e) => result.errors.push(`${page.url()}: ${e.message}`));

  // what a page looks like to a reader: title, main text, which sidebar entry is active, its links and images
  const inspect = () => page.evaluate(() => ({
    title: document.title,
    h1: document.querySelector('main h1.title')?.textContent.trim() ?? '',
    main_chars: (document.querySelector('main')?.innerText ?? '').length,
    active: [...document.querySelectorAll('nav.sidebar a.active')].map((a) => a.href),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
    broken_images: [...document.querySelectorAll('img')].filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src),
    next: document.querySelector('nav.page-nav a.next')?.href ?? null,
    figures: [...document.querySelectorAll('main img')].filter((i) => i.complete && i.naturalWidth > 100 && i.src.startsWith('data:image')).length,
    sigcards: document.querySelectorAll('main .sigcard').length,
    test_calls: /\btest_(eq|fail)\(/.test(document.querySelector('main')?.innerText ?? ''),
    source_link: document.querySelector('main a.source-link')?.href ?? null,
  }));

  const first = await page.goto(home);
  await page.waitForSelector('nav.sidebar a');             // index.html leads on to the home page
  result.home_status = first ? first.status() : null;
  result.landed = page.url();
  if (shot) await page.screenshot({ path: shot });
  const sidebar = await page.$$eval('nav.sidebar a', (as) => as.map((a) => ({ text: a.textContent.trim(), href: a.href })));
  result.sidebar = sidebar.length;
  const allLinks = new Set();

  for (let i = 0; i < sidebar.length; i++) {
    const { text, href } = sidebar[i];
    const entry = { text, href, ok: false };
    try {
      if (!sameSite(href)) { entry.skipped = 'links to another site'; result.pages.push(entry); continue; }
      // after a page that failed (e.g. the browser's error page), start again from the home page
      if ((await page.locator('nav.sidebar a').count()) !== sidebar.length) {
        await page.waitForLoadState('load').catch(() => {});    // let the error page finish loading first
        await page.goto(result.landed);
      }
      const [resp] = await Promise.all([page.waitForNavigation(),     // a click on the current page reloads it
                                        page.locator('nav.sidebar a').nth(i).click()]);  // the same entry on any page
      const status = resp ? resp.status() : null;
      entry.url = page.url();
      const info = await inspect();
      info.links.filter(sameSite).forEach((u) => allLinks.add(noHash(u)));
      Object.assign(entry, { status, title: info.title, h1: info.h1, main_chars: info.main_chars, broken_images: info.broken_images,
                             figures: info.figures, sigcards: info.sigcards, test_calls: info.test_calls, source_link: info.source_link });
      const problems = [];
      if (status !== 200) problems.push(`status ${status}`);
      if (!info.title.trim() || !info.h1) problems.push('no title');
      if (info.main_chars < 40) problems.push('main content (nearly) empty');
      if (noHash(page.url()) !== noHash(href)) problems.push(`landed on ${page.url()}`);
      if (info.active.length !== 1 || noHash(info.active[0]) !== noHash(href)) problems.push(`sidebar marks ${JSON.stringify(info.active)} active`);
      if (info.broken_images.length) problems.push(`images that do not load: ${info.broken_images.join(', ')}`);
      entry.problems = problems;
      entry.ok = problems.length === 0;
    } catch (e) { entry.problems = [String(e.message || e).split('\n')[0]]; }
    result.pages.push(entry);
  }

  // the search box: a query finds pages, and a hit leads to its page
  try {
    await page.goto(result.landed);
    const query = 'height of ambiguity';
    await page.fill('#search', query);
    const hits = await page.$$eval('#search-results a', (as) => as.map((a) => ({ text: a.textContent.trim(), href: a.href })));
    result.search = { query, hits: hits.length, first: hits[0] ?? null };
    if (hits.length) {
      await Promise.all([page.waitForNavigation(), page.locator('#search-results a').first().click()]);
      result.search.landed = page.url();
    }
  } catch (e) { result.search = { error: String(e.message || e).split('\n')[0] }; }

  // the previous/next chain from the first sidebar page reaches every page once
  try {
    await page.goto(sidebar[0].href);
    for (let k = 0; k < sidebar.length + 2; k++) {
      result.chain.push(noHash(page.url()));
      const next = await page.$('nav.page-nav a.next');
      if (!next) break;
      await Promise.all([page.waitForNavigation(), next.click()]);
    }
  } catch (e) { result.chain_error = `after ${result.chain.at(-1)}: ${String(e.message || e).split('\n')[0]}`; }

  // every link between pages of the site leads to a file that exists
  for (const u of allLinks) {
    result.links_checked++;
    if (base.protocol === 'file:') {
      if (!existsSync(fileURLToPath(u))) result.broken_links.push({ url: u, error: 'no such file' });
    } else {
      const r = await ctx.request.get(u);
      if (r.status() !== 200) result.broken_links.push({ url: u, status: r.status() });
    }
  }
  const visited = result.pages.filter((p) => !p.skipped);
  const pagesInSidebar = new Set(visited.map((p) => noHash(p.href)));
  result.chain_complete = !result.chain_error && [...pagesInSidebar].every((u) => result.chain.includes(u))
    && new Set(result.chain).size === result.chain.length;
  result.ok = visited.length > 0 && visited.every((p) => p.ok) && result.chain_complete && !result.broken_links.length
    && !result.foreign_requests.length && !result.errors.length && (base.protocol === 'file:' || result.home_status === 200);
} catch (e) {
  result.errors.push(String(e.message || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result, null, 1));
process.exit(result.ok ? 0 : 1);
