// The one-map page against a running server, signed in: it loads quietly, fetches only from
// its own origin, stays within its Content-Security-Policy, shows the user in the header,
// draws counties with Chinese labels, and shows villages and grids inside a township.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  HAN,
  SERVER_URL,
  credentials,
  foreignRequests,
  gotoSignedOut,
  jumpTo,
  login,
  openBrowser,
  renderedFeatures,
  screenshot,
  waitForMapIdle,
  withoutExpected401,
} from './helpers.mjs';

let browser;
let documentResponse;

before(async () => {
  browser = await openBrowser({ locale: 'zh-CN' });
  browser.page.on('response', (response) => {
    if (response.url() === new URL('/', SERVER_URL).href) documentResponse ??= response;
  });
  await gotoSignedOut(browser.page);
  await login(browser.page);
  await waitForMapIdle(browser.page);
});

after(async () => {
  await browser?.close();
});

test('initial view shows county outlines and Chinese labels', async () => {
  const features = await renderedFeatures(browser.page);
  const counties = features.filter(
    (f) => f.sourceLayer === 'county' && f.layerType !== 'symbol' && f.properties.level === 1,
  );
  assert.ok(counties.length > 0, 'no county polygon is drawn at the initial view');

  const labels = features.filter((f) => f.layerType === 'symbol');
  const chinese = labels.filter((f) => HAN.test(String(f.properties.name)));
  assert.ok(chinese.length > 0, `no Chinese label is placed (labels: ${labels.length})`);
  assert.ok(
    chinese.some((f) => f.properties.level === 1),
    'no county label is placed at the initial view',
  );

  await screenshot(browser.page, 'map-initial.png');
});

test('the header shows the signed-in user, role and territory', async () => {
  const { page } = browser;
  const me = await page.evaluate(async () => (await fetch('/api/auth/me')).json());
  assert.equal(me.user.username, credentials().username);
  const account = page.locator('#account');
  await account.waitFor({ state: 'visible' });
  assert.equal(await account.locator('.account__name').innerText(), me.user.display_name);
  const roles = { admin: '管理员', leader: '领导', dispatcher: '调度员', operator: '坐席员', worker: '网格员' };
  assert.equal(await account.locator('.account__role').innerText(), roles[me.user.role]);
  assert.equal(await account.locator('.account__scope').innerText(), me.user.scope?.name ?? '全部辖区');
  assert.equal(await page.locator('#logout').innerText(), '退出登录');
  assert.equal(await page.locator('#password-open').innerText(), '修改密码');
  assert.equal(await page.locator('#login').isVisible(), false, 'the sign-in screen is still shown');
});

test('the legend and title are in Chinese for a zh-CN browser', async () => {
  const { page } = browser;
  assert.equal(await page.title(), 'Gridwall 一张图');
  const legend = await page.locator('#legend').innerText();
  for (const name of ['县（市、区）', '乡镇（街道）', '村（社区）', '网格']) {
    assert.ok(legend.includes(name), `legend lacks ${name}: ${legend}`);
  }
});

test('zooming into a township shows its villages and grids', async () => {
  const { page } = browser;
  // From a county's label point to a township's, then close in on that township.
  const initial = await renderedFeatures(page);
  const county = initial.find((f) => f.layerType === 'symbol' && f.properties.level === 1);
  assert.ok(county?.point, 'no county label to start from');
  await jumpTo(page, county.point, 10);

  const townships = (await renderedFeatures(page)).filter(
    (f) => f.layerType === 'symbol' && f.properties.level === 2,
  );
  assert.ok(townships.length > 0, 'no township label at zoom 10');
  const township = townships[0];
  await jumpTo(page, township.point, 13.5);

  const inside = await renderedFeatures(page);
  const villages = inside.filter((f) => f.sourceLayer === 'village' && f.layerType !== 'symbol');
  const grids = inside.filter((f) => f.sourceLayer === 'grid' && f.layerType !== 'symbol');
  assert.ok(villages.length > 0, 'no village polygon inside the township');
  assert.ok(grids.length > 0, 'no grid polygon inside the township');
  const gridLabels = inside.filter((f) => f.layerType === 'symbol' && f.properties.level === 4);
  assert.ok(gridLabels.some((f) => HAN.test(String(f.properties.name))), 'no grid label placed');

  await screenshot(page, 'map-township.png');
});

test('hovering and clicking a unit shows it in the panel', async () => {
  const { page } = browser;
  const box = await page.locator('#map').boundingBox();
  assert.ok(box);
  // The map is centred on a township's label point, which lies inside one of its grids.
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const unit = page.locator('#unit-panel .panel__unit');
  await unit.waitFor({ state: 'visible', timeout: 5_000 });
  assert.equal(await unit.getAttribute('data-level'), '4', 'the finest level under the pointer is a grid');
  const name = await page.locator('#unit-panel .panel__name').innerText();
  assert.match(name, HAN);
  assert.match(await page.locator('#unit-panel .panel__code').innerText(), /^\d{15}$/);
  assert.equal(await page.locator('#unit-panel .panel__level').innerText(), '网格');

  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.locator('#unit-panel.panel--pinned').waitFor({ timeout: 5_000 });
  await waitForMapIdle(page);
  await screenshot(page, 'map-pinned.png');
});

test('panning and zooming with the mouse keeps the map drawing', async () => {
  const { page } = browser;
  const box = await page.locator('#map').boundingBox();
  assert.ok(box);
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x - 240, y - 120, { steps: 12 });
  await page.mouse.up();
  await waitForMapIdle(page);
  for (let i = 0; i < 4; i += 1) {
    await page.mouse.wheel(0, 400); // out
    await page.waitForTimeout(150);
  }
  await waitForMapIdle(page);
  await page.locator('.maplibregl-ctrl-zoom-in').click();
  await waitForMapIdle(page);
  assert.ok((await renderedFeatures(page)).length > 0, 'nothing drawn after panning and zooming');
});

test('the page is served with a strict CSP and nothing violated it', () => {
  assert.ok(documentResponse, 'the response for / was not seen');
  const csp = documentResponse.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'self'(;|$)/, `no strict script-src in: ${csp}`);
  assert.match(csp, /style-src 'self'(;|$)/, `no strict style-src in: ${csp}`);
  assert.deepEqual(browser.record.cspViolations, [], 'CSP violations');
});

test('the page stayed quiet and on its own origin', () => {
  const { record } = browser;
  // The page asks /api/auth/me before signing in; that 401 is the only one expected.
  assert.deepEqual(withoutExpected401(record.consoleErrors), [], 'console errors');
  assert.deepEqual(withoutExpected401(record.failures), [], 'failed requests');
  assert.deepEqual(foreignRequests(record.requests), [], 'requests to other hosts');
  // The recording must see the worker's tile fetches, or the origin check proves nothing.
  const tiles = record.requests.filter((url) => /\/tiles\/units\/\d+\/\d+\/\d+\.mvt/.test(url));
  assert.ok(tiles.length > 0, 'no tile request was recorded');
  // Labels are drawn from local fonts: no glyph PBFs are fetched.
  assert.deepEqual(
    record.requests.filter((url) => /\.pbf(\?|$)|\/fonts\//.test(url)),
    [],
    'glyph requests',
  );
});
