// The wall (大屏, web/src/wall/): signed in as the administrator it opens on the city, draws
// the hierarchy, shows the unit's KPIs as /api/kpi and /api/cases count them, drills down
// city → county → township by clicking the map (breadcrumbs, `?unit=`, and the socket's
// subscription follow), goes back with a breadcrumb, keeps the unit across a reload, and
// shows a case created through the API in its open-case panel and its ticker. Screenshots at
// 1920×1080 and 3840×2160 go to tests/screenshots/wall-*.png.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { api, apiLogin, createCase, createWorker, locate, postPosition } from './api.mjs';
import {
  SCREENSHOT_DIR,
  gotoSignedOut,
  login,
  openBrowser,
  recordSocketFrames,
  screenshot,
  subscribeMessages,
  waitForMapSettled,
} from './helpers.mjs';

// Inside 崇川区 / 狼山镇街道: where the test clicks to drill down, and where its data lives.
const CLICK = [120.86, 32.02];
const NEAR = [
  [120.865, 32.015],
  [120.855, 32.025],
  [120.87, 32.012],
];

let browser;
let token;
let sockets;
let place;

before(async () => {
  token = await apiLogin();
  place = await locate(token, CLICK);
  // Some life on the wall: workers reporting, an open case or two.
  for (const [i, p] of NEAR.entries()) {
    const w = await createWorker(token, p, { tag: `e2e-wall-${i}` });
    await postPosition(w.deviceToken, w.id, p);
  }
  // Different categories: three of one kind close together would raise a hotspot alert.
  await createCase(token, NEAR[0], { title: '道路积水 e2e', severity: 3, category: 'environment' });
  await createCase(token, NEAR[1], { title: '占道经营 e2e', severity: 1, category: 'city_appearance' });
  // Small while testing behaviour (software GL pays per pixel); the screenshots resize.
  browser = await openBrowser({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  sockets = recordSocketFrames(browser.page);
  await gotoSignedOut(browser.page, '/wall');
  await login(browser.page);
  await browser.page.waitForFunction(() => window.__gridwallWall?.unit !== undefined, null, {
    timeout: 60_000,
  });
  await waitForMapSettled(browser.page);
});

after(async () => {
  await browser?.close();
});

/** Waits until `fn` (run in the page with `arg`) returns a truthy value; returns it. */
async function until(fn, arg, timeout = 30_000) {
  const handle = await browser.page.waitForFunction(fn, arg, { timeout, polling: 200 });
  return handle.jsonValue();
}

/** The KPI figures' font size in px (queried and measured in one step: they re-render). */
const kpiFontSize = (page) =>
  page.evaluate(() =>
    parseFloat(getComputedStyle(document.querySelector('#wall-kpi [data-kpi="openCases"]')).fontSize),
  );

const crumbTexts = () =>
  browser.page.$$eval('#wall-crumbs .wall-crumbs__item', (items) => items.map((i) => i.textContent));

/** Clicks the map at a [lng, lat] and waits for the wall to show `code`, settled. */
async function clickMapAt(lngLat, code) {
  const { page } = browser;
  const xy = await page.evaluate((p) => {
    const pt = window.__gridwallMap.project(p);
    const box = window.__gridwallMap.getContainer().getBoundingClientRect();
    return [box.left + pt.x, box.top + pt.y];
  }, lngLat);
  await page.mouse.click(xy[0], xy[1]);
  await until((c) => window.__gridwallWall.unit?.code === c, code);
  await waitForMapSettled(page);
}

test('opens on the top unit and draws the hierarchy (rendered features, not just a canvas)', async () => {
  const unit = await browser.page.evaluate(() => window.__gridwallWall.unit);
  assert.equal(unit.code, place.city.code, 'an administrator starts at the city');
  const rendered = await browser.page.evaluate(() => window.__gridwallWall.renderedUnits());
  const counties = new Set(rendered.filter((f) => f.level === 1).map((f) => f.code));
  assert.ok(counties.has(place.county.code), `崇川区 is drawn (got ${[...counties].join(',')})`);
  assert.ok(counties.size >= 3, 'several counties are drawn');
  assert.deepEqual(await crumbTexts(), [place.city.name]);
  assert.match(browser.page.url(), new RegExp(`[?&]unit=${place.city.code}`));
  const sub = subscribeMessages(sockets).at(-1);
  assert.equal(sub.unit, place.city.code, 'the socket is subscribed to the unit, not a viewport');
  assert.deepEqual([...sub.layers].sort(), ['alerts', 'cases', 'vehicles', 'workers']);
});

test('the KPI header shows the figures /api/kpi and /api/cases give for the unit', async () => {
  const { page } = browser;
  const code = await page.evaluate(() => window.__gridwallWall.unit.code);
  const from = await page.evaluate(() => {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    return d.toISOString();
  });
  const kpi = await api(
    token,
    'GET',
    `/api/kpi?unit=${code}&from=${encodeURIComponent(from)}&coverage=false`,
  );
  const open = await api(token, 'GET', `/api/cases?unit=${code}&status=open&limit=1`);
  assert.ok(kpi.unit.workers_online >= NEAR.length, 'the test workers are online');
  assert.ok(open.total >= 2, 'the test cases are open');
  const rate = kpi.unit.resolution_rate === null ? '–' : `${Math.round(kpi.unit.resolution_rate * 100)}%`;
  const want = {
    workersOnline: String(kpi.unit.workers_online),
    openCases: String(open.total),
    overdue: String(kpi.unit.overdue_now),
    resolvedToday: String(kpi.unit.resolved),
    resolutionRate: rate,
  };
  const shown = await until((w) => {
    const got = {};
    for (const el of document.querySelectorAll('#wall-kpi [data-kpi]')) got[el.dataset.kpi] = el.textContent;
    return Object.entries(w).every(([k, v]) => got[k] === v) ? got : false;
  }, want);
  assert.deepEqual(shown, want);
  const size = await kpiFontSize(page);
  assert.ok(size >= 30, `KPI figures are large (${size}px at 1280 wide)`);
});

test('clicking the map drills down county → township; breadcrumbs, URL and subscription follow', async () => {
  const { page } = browser;
  const before = subscribeMessages(sockets).length;
  await clickMapAt(CLICK, place.county.code);
  assert.deepEqual(await crumbTexts(), [place.city.name, place.county.name]);
  await clickMapAt(CLICK, place.township.code);
  assert.deepEqual(await crumbTexts(), [place.city.name, place.county.name, place.township.name]);
  assert.match(page.url(), new RegExp(`[?&]unit=${place.township.code}`));
  const subs = subscribeMessages(sockets).slice(before).map((m) => m.unit);
  assert.deepEqual(subs, [place.county.code, place.township.code], 'one subscribe per drill-down');
  // The map fits the township: the village level is drawn and fills the screen.
  const rendered = await page.evaluate(() => window.__gridwallWall.renderedUnits());
  assert.ok(rendered.some((f) => f.level === 3 && f.code === place.village.code), 'the village is drawn');
  // The KPIs are the township's now.
  await until((c) => window.__gridwallWall.kpi?.unit === c, place.township.code);

  // A breadcrumb goes back up; the browser's back button comes down again.
  await page.locator(`#wall-crumbs button[data-code="${place.county.code}"]`).click();
  await until((c) => window.__gridwallWall.unit?.code === c, place.county.code);
  assert.deepEqual(await crumbTexts(), [place.city.name, place.county.name]);
  assert.equal(subscribeMessages(sockets).at(-1).unit, place.county.code);
  await page.goBack();
  await until((c) => window.__gridwallWall.unit?.code === c, place.township.code);
});

test('a reload stays on the unit in the URL', async () => {
  const { page } = browser;
  await page.reload({ waitUntil: 'load' });
  await until((c) => window.__gridwallWall?.unit?.code === c, place.township.code, 60_000);
  assert.deepEqual(await crumbTexts(), [place.city.name, place.county.name, place.township.name]);
  assert.equal(subscribeMessages(sockets).at(-1).unit, place.township.code);
});

test('a case created through the API appears in the open-case panel and the ticker', async () => {
  const { page } = browser;
  const title = `井盖缺失 e2e ${Math.random().toString(36).slice(2, 6)}`;
  const created = await createCase(token, NEAR[2], { title, severity: 4, category: 'public_order' });
  await page.locator(`#wall-cases [data-number="${created.number}"]`).waitFor({ timeout: 30_000 });
  const shown = await page.$eval(`#wall-cases [data-number="${created.number}"]`, (li) => li.textContent);
  assert.ok(shown.includes(title), `the panel names the case (got ${shown})`);
  // In the ticker, newest first: nothing about cases came after it (an alert may have).
  const lines = await page.$$eval('#wall-ticker .wall-ticker__item', (items) =>
    items.map((li) => ({ kind: li.dataset.kind, text: li.textContent })),
  );
  const at = lines.findIndex((l) => l.text.includes(title));
  assert.ok(at >= 0, `the ticker shows the new case (got ${JSON.stringify(lines.slice(0, 3))})`);
  assert.ok(lines.slice(0, at).every((l) => l.kind === 'alert'), 'it is the newest case line');
  // And the KPIs were nudged by the event: the open count includes it.
  const open = await api(token, 'GET', `/api/cases?unit=${place.township.code}&status=open&limit=1`);
  await until(
    (n) => document.querySelector('#wall-kpi [data-kpi="openCases"]')?.textContent === String(n),
    open.total,
  );
});

test('screenshots at 1920×1080 and 3840×2160; 4K scales type and markers', async () => {
  const { page } = browser;
  await page.setViewportSize({ width: 1920, height: 1080 });
  await until(() => window.__gridwallWall.scale === 1);
  await waitForMapSettled(page);
  await screenshot(page, 'wall-1920x1080.png');
  const small = await kpiFontSize(page);
  await page.setViewportSize({ width: 3840, height: 2160 });
  await until(() => window.__gridwallWall.scale === 2);
  // Same centre and zoom: the township fills the middle of the larger screen.
  await waitForMapSettled(page);
  const big = await kpiFontSize(page);
  assert.ok(big >= small * 1.9, `KPI type doubles on a 4K wall (${small}px → ${big}px)`);
  // A 4K frame with software GL on a busy machine is slow: give the capture time.
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'wall-3840x2160.png'), timeout: 180_000 });
  assert.deepEqual(browser.record.cspViolations, []);
});
