// The leader view (/leader, web/src/leader/): the choropleth colours the children of the
// current unit with the figures /api/kpi gives for them, and a click drills down; cases
// created through the API show up as density hexagons in their H3 cell; positions a worker
// posts along a path make the grid's visited cells and coverage figure appear; and that
// worker's track plays back, the marker following the time slider.
// One browser for the whole file; the positions are posted first, because the server's track
// roll-up (which coverage reads) runs a minute behind their arrival.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import { api, apiLogin, createCase, createWorker, postPosition } from './api.mjs';
import { gotoSignedOut, login, openBrowser, screenshot, waitForMapIdle } from './helpers.mjs';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { latLngToCell } = require('h3-js');

// In 崇川区 / 狼山镇街道 / 军山社区 (grid 320613010009003).
const HERE = [120.87, 32.01];
const CITY = '320600';
const COUNTY = '320613';
const TOWNSHIP = '320613010';
const CASES_HERE = 3;
/** A short walk around HERE, about 25 m a step, one fix a minute ending a minute ago. */
const WALK = Array.from({ length: 8 }, (_, i) => [HERE[0] + (i % 4) * 0.00025, HERE[1] + Math.floor(i / 4) * 0.0002]);

let browser;
let token;
let worker;

before(async () => {
  token = await apiLogin();
  worker = await createWorker(token, HERE, { tag: 'e2e-leader' });
  const start = Date.now() - (WALK.length + 1) * 60_000;
  for (const [i, p] of WALK.entries()) {
    await postPosition(worker.deviceToken, worker.id, p, { at: new Date(start + i * 60_000).toISOString() });
  }
  for (let i = 0; i < CASES_HERE; i += 1) await createCase(token, HERE, { title: `e2e 驾驶舱 ${i}` });
  // Software GL is slow: the checks run at 1280×800, the screenshots for docs at the end.
  browser = await openBrowser({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  await gotoSignedOut(browser.page, '/leader');
  await login(browser.page);
  await waitForMapIdle(browser.page);
});

after(async () => {
  await browser?.close();
});

/** Waits until `fn` (run in the page with `arg`) returns a truthy value; returns it. */
async function until(fn, arg, timeout = 60_000) {
  const handle = await browser.page.waitForFunction(fn, arg, { timeout, polling: 250 });
  return handle.jsonValue();
}

/** Waits until the view shows `code` with its figures loaded and nothing in flight. */
async function settled(code) {
  await until(
    (c) => {
      const l = window.__gridwallLeader;
      return l && l.unit()?.code === c && !l.busy() && Object.keys(l.values()).length > 0;
    },
    code,
  );
}

const leader = (fn, arg) => browser.page.evaluate(fn, arg);
const T0 = Date.now();
const mark = (what) => process.env.LEADER_TIMING && console.error(`[${((Date.now() - T0) / 1000).toFixed(1)} s] ${what}`);

async function kpiOf(code) {
  const w = await leader(() => window.__gridwallLeader.window());
  const q = new URLSearchParams({ unit: code, children: 'true', from: w.from, to: w.to });
  return api(token, 'GET', `/api/kpi?${q}`);
}

/**
 * Waits until the server's track roll-up has taken the walk of `before` (it runs every minute,
 * half a minute behind arrival) and returns the grid's coverage report.
 */
async function walkRolledUp() {
  const w = await leader(() => window.__gridwallLeader.window());
  const q = new URLSearchParams({
    unit: worker.grid,
    from: w.from,
    to: new Date(Date.now() + 3_600_000).toISOString(),
    cells: 'true',
  });
  let report;
  for (let waited = 0; waited < 150_000; waited += 3_000) {
    report = await api(token, 'GET', `/api/coverage?${q}`);
    if (report.visited_cells > 0) break;
    await browser.page.waitForTimeout(3_000);
  }
  assert.ok(report.visited_cells > 0, 'the server counts visited cells');
  return report;
}

/** The coloured values and feature states of the view against /api/kpi's children. */
async function assertChoropleth(code, metric, field) {
  const report = await kpiOf(code);
  assert.ok(report.children.length > 1, `${code} has children`);
  const shown = await leader(
    (children) => {
      const l = window.__gridwallLeader;
      return {
        metric: l.metric(),
        values: l.values(),
        states: children.map(([c, level]) => l.featureState(c, level)),
      };
    },
    report.children.map((k) => [k.code, k.level]),
  );
  assert.equal(shown.metric, metric);
  for (const [i, k] of report.children.entries()) {
    assert.equal(shown.values[k.code], k[field], `${metric} of ${k.name} (${k.code})`);
    const state = shown.states[i];
    assert.equal(state.leaderOn, true, `${k.code} is coloured`);
    assert.equal(state.leaderValue, k[field], `feature state of ${k.code}`);
    assert.ok(k[field] === null ? state.leaderT === -1 : state.leaderT >= 0 && state.leaderT <= 1);
  }
  return report;
}

test('the choropleth colours the children with their /api/kpi figures, for each metric', async () => {
  const { page } = browser;
  // Coverage is a live figure that changes when the roll-up takes the walk: wait for that, then
  // have the page read its figures again, so that it and /api/kpi read the same ones.
  await walkRolledUp();
  await settled(CITY);
  await page.locator('.leader__refresh').click();
  await settled(CITY);
  const report = await assertChoropleth(CITY, 'cases', 'opened');
  const county = report.children.find((k) => k.code === COUNTY);
  assert.ok(county.opened >= CASES_HERE, `崇川区 has the ${CASES_HERE} new cases (${county.opened})`);
  // The KPI panel shows the unit's own figures.
  assert.equal(await page.locator('[data-kpi="opened"]').innerText(), report.unit.opened.toLocaleString('zh-CN'));
  await page.locator('.leader__seg--metric [data-key="resolution"]').click();
  await assertChoropleth(CITY, 'resolution', 'resolution_rate');
  await page.locator('.leader__seg--metric [data-key="coverage"]').click();
  await assertChoropleth(CITY, 'coverage', 'coverage');
  await page.locator('.leader__seg--metric [data-key="cases"]').click();
  await waitForMapIdle(page);
  await screenshot(page, 'leader-city.png');
});

test('clicking a unit drills down, breadcrumbs go back up', async () => {
  const { page } = browser;
  const point = await leader((p) => window.__gridwallLeader && window.__gridwallMap.project(p), HERE);
  await page.mouse.click(point.x, point.y);
  await settled(COUNTY);
  await assertChoropleth(COUNTY, 'cases', 'opened');
  const crumbs = await page.locator('.leader__crumb').allInnerTexts();
  assert.deepEqual(crumbs, ['南通市', '崇川区']);
  // The city's children are no longer coloured.
  const other = await leader(() => window.__gridwallLeader.featureState('320612', 1));
  assert.notEqual(other.leaderOn, true, '通州区 is cleared');
  await page.locator(`.leader__crumb[data-code="${CITY}"]`).click();
  await settled(CITY);
  assert.deepEqual(await page.locator('.leader__crumb').allInnerTexts(), ['南通市']);
});

test('cases created through the API show up as density hexagons in their H3 cell', async () => {
  const { page } = browser;
  await leader((c) => window.__gridwallLeader.go(c), TOWNSHIP);
  await settled(TOWNSHIP);
  await waitForMapIdle(page);
  const density = await until(() => {
    const l = window.__gridwallLeader;
    const d = l.density();
    const res = Math.min(11, Math.max(5, Math.round(0.72 * window.__gridwallMap.getZoom() - 1.2)));
    return !l.busy() && d && d.res === res && l.extraLayerIds().includes('leader-density') ? d : false;
  });
  const cell = latLngToCell(HERE[1], HERE[0], density.res);
  const drawn = density.cells.find((c) => c.cell === cell);
  assert.ok(drawn, `cell ${cell} (res ${density.res}) is drawn`);
  assert.ok(drawn.count >= CASES_HERE, `it counts the ${CASES_HERE} cases (${drawn.count})`);
  const w = await leader(() => window.__gridwallLeader.window());
  const q = new URLSearchParams({ layer: 'cases', res: String(density.res), from: w.from, to: w.to });
  const server = await api(token, 'GET', `/api/density?${q}`);
  assert.equal(drawn.count, server.cells.find((c) => c.cell === cell)?.count);
  await screenshot(page, 'leader-density.png');
});

test('track playback: the marker follows the time slider', async () => {
  const { page } = browser;
  await page.locator('.leader__search').fill(worker.name);
  await page.locator(`.leader__hit[data-id="${worker.id}"]`).click();
  await until((n) => window.__gridwallLeader.track()?.points === n, WALK.length);
  const at = async (value) => {
    await page.locator('.leader__slider').evaluate((el, v) => {
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, String(value));
    return leader(() => window.__gridwallLeader.track().marker);
  };
  const close = (a, b) => Math.abs(a[0] - b[0]) < 1e-7 && Math.abs(a[1] - b[1]) < 1e-7;
  const first = await at(0);
  assert.ok(close(first, WALK[0]), `at 0 the marker is on the first fix (${first})`);
  const last = await at(1000);
  assert.ok(close(last, WALK[WALK.length - 1]), `at the end it is on the last fix (${last})`);
  const mid = await at(500);
  assert.ok(!close(mid, first) && !close(mid, last), `half-way it is in between (${mid})`);
  assert.ok(
    (await leader(() => window.__gridwallLeader.extraLayerIds())).includes('leader-track-marker'),
    'the marker layer is drawn',
  );
  // Play moves time forward by itself.
  await at(0);
  const t0 = await leader(() => window.__gridwallLeader.track().t);
  await page.locator('.leader__play').click();
  await until((t) => window.__gridwallLeader.track().t > t, t0);
  await page.locator('.leader__play').click();
  await waitForMapIdle(page);
  await screenshot(page, 'leader-track.png');
});

test("a grid's visited cells appear once its worker's positions are rolled up", async () => {
  const { page } = browser;
  const grid = worker.grid;
  await walkRolledUp();
  await leader((c) => window.__gridwallLeader.go(c), grid);
  await until(
    (c) => {
      const l = window.__gridwallLeader;
      return l.unit()?.code === c && !l.busy() && (l.coverage()?.visited_cells ?? 0) > 0;
    },
    grid,
  );
  const shown = await leader(() => {
    const c = window.__gridwallLeader.coverage();
    return { coverage: c.coverage, visited: c.cells.visited, unvisited: c.cells.unvisited.length, layers: window.__gridwallLeader.extraLayerIds() };
  });
  assert.ok(shown.coverage > 0, `coverage ${shown.coverage}`);
  assert.ok(shown.unvisited > 0, 'unvisited cells are listed too');
  assert.ok(shown.layers.includes('leader-coverage'), 'the coverage hexagons are drawn');
  const walked = new Set(WALK.map(([lng, lat]) => latLngToCell(lat, lng, 11)));
  assert.ok(shown.visited.some((c) => walked.has(c)), 'a cell of the walk is among the visited ones');
  const figure = await page.locator('.leader__coverage-figure').innerText();
  assert.match(figure, /^\d+(\.\d)?%$/);
  assert.ok(parseFloat(figure) > 0, `the panel shows the coverage (${figure})`);
  await waitForMapIdle(page);
  await screenshot(page, 'leader-grid.png');
});

test('screenshots at 1920×1080 and 3840×2160', async () => {
  const { page } = browser;
  await leader((c) => window.__gridwallLeader.go(c), TOWNSHIP);
  await settled(TOWNSHIP);
  // Software GL takes seconds a frame at 4K: long timeouts here, and the 4K shot is the same
  // view one zoom level in (the map keeps its centre and zoom when the window grows).
  const zoom = await leader(() => window.__gridwallMap.getZoom());
  for (const [width, height, dz] of [[1920, 1080, 0], [3840, 2160, 1]]) {
    await page.setViewportSize({ width, height });
    await until((w) => window.__gridwallMap.getCanvas().clientWidth === w, width, 180_000);
    await leader((z) => window.__gridwallMap.jumpTo({ zoom: z }), zoom + dz);
    await page.waitForTimeout(300); // the density reloads 150 ms after the move ends
    await until(() => !window.__gridwallLeader.busy(), undefined, 180_000);
    await waitForMapIdle(page, 240_000);
    await screenshot(page, `leader-${width}.png`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('the page stays quiet and within its CSP', () => {
  const { record } = browser;
  assert.deepEqual(record.cspViolations, []);
  const errors = record.consoleErrors.filter((e) => !/status of 401/.test(e));
  assert.deepEqual(errors, []);
});
