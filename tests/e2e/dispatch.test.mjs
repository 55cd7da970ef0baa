// The dispatcher's console (/dispatch, web/src/dispatch/): a case registered through the API
// appears in the queue and on the map without a reload; a worker positioned near it through
// the API is offered as a candidate with its distance, in the list and on the map; assigning
// it with one click (accept and dispatch) shows the case as dispatched in a second browser
// signed in as another user (the 崇川区 dispatcher), live; escalating and closing go through
// the buttons and show in the history; an action the server refuses shows the server's error.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { api, apiLogin, createCase, createWorker, demoAccount, postPosition } from './api.mjs';
import {
  gotoSignedOut,
  login,
  openBrowser,
  screenshot,
  waitForMapIdle,
  withoutExpected401,
} from './helpers.mjs';

// In 崇川区 (狼山镇街道): a case here, and a worker about 70 m away.
const HERE = [120.87, 32.01];
const NEAR = [120.8706, 32.0104];
const tag = Math.random().toString(36).slice(2, 7);

let token;
let worker;
let admin; // the admin's browser: acts
let other; // the 崇川区 dispatcher's browser: watches
let kase; // the case of the first tests

/** Opens /dispatch signed in as `account` and waits for the live queue. */
async function openConsole(account, viewport) {
  const b = await openBrowser({ locale: 'zh-CN', ...(viewport ? { viewport } : {}) });
  await gotoSignedOut(b.page, '/dispatch');
  await login(b.page, account);
  await waitForMapIdle(b.page);
  await b.page.locator('.dispatch__queue').waitFor({ state: 'visible', timeout: 60_000 });
  await b.page.waitForFunction(() => document.getElementById('conn')?.dataset.state === 'live', null, {
    timeout: 60_000,
  });
  // Set once per page load: still there later means nothing reloaded the page.
  await b.page.evaluate(() => {
    window.__noReload = true;
  });
  return b;
}

function item(page, id) {
  return page.locator(`.dispatch__list [data-case-id="${id}"]`);
}

/** Waits until the detail panel shows case `id` (loaded) with `status`. */
async function detailShows(page, id, status, timeout = 60_000) {
  await page.waitForFunction(
    ([i, s]) => {
      const d = document.querySelector('[data-testid="case-detail"]');
      return d?.dataset.state === 'loaded' && d.dataset.caseId === String(i) && d.dataset.status === s;
    },
    [id, status],
    { timeout, polling: 200 },
  );
}

/** Whether deck.gl draws an object of `layerId` at `lngLat` (picked at the projected pixel). */
async function drawnAt(page, layerId, lngLat) {
  return page.evaluate(
    ([layer, p]) => {
      const map = window.__gridwallMap;
      const { x, y } = map.project(p);
      const picked = window.__gridwallLive.overlay.deck.pickObject({ x, y, radius: 6, layerIds: [layer] });
      return picked?.object ?? null;
    },
    [layerId, lngLat],
  );
}

before(async () => {
  token = await apiLogin();
  worker = await createWorker(token, NEAR, { tag: `e2e-dispatch-${tag}` });
  await postPosition(worker.deviceToken, worker.id, NEAR);
  // Modest windows while acting (software GL pays for every pixel of every frame); the
  // screenshot resizes at the end.
  admin = await openConsole(undefined);
  other = await openConsole(
    await demoAccount('dispatcher'),
    { width: 960, height: 640 },
  );
});

after(async () => {
  await admin?.close();
  await other?.close();
});

test('a case created through the API appears in both queues and on the map, without a reload', async () => {
  kase = await createCase(token, HERE, { title: `e2e 调度 ${tag}`, severity: 3 });
  for (const b of [admin, other]) {
    await item(b.page, kase.id).waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await item(b.page, kase.id).getAttribute('data-status'), 'reported');
    assert.match(await item(b.page, kase.id).innerText(), new RegExp(`e2e 调度 ${tag}`));
    assert.equal(await b.page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
  }
  // On the map: the live layer holds it and deck.gl draws it where it is.
  const { page } = admin;
  await page.evaluate((p) => window.__gridwallMap.jumpTo({ center: p, zoom: 15 }), HERE);
  await waitForMapIdle(page);
  const picked = await drawnAt(page, 'live-cases', kase.position);
  assert.equal(picked?.id, kase.id);
});

test('the worker nearby is a candidate, with distance and walking time, in the list and on the map', async () => {
  const { page } = admin;
  // Keyboard: narrow the queue to this case, then ↓ and Enter open it.
  await page.locator('.dispatch__search').fill(kase.number);
  await page.waitForFunction(
    (id) => {
      const rows = document.querySelectorAll('.dispatch__list [data-case-id]');
      return rows.length === 1 && rows[0].getAttribute('data-case-id') === String(id);
    },
    kase.id,
    { timeout: 60_000 },
  );
  await page.locator('.dispatch__list').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await detailShows(page, kase.id, 'reported');
  const row = page.locator(`[data-testid="candidates"] [data-worker-id="${worker.id}"]`);
  await row.waitFor({ state: 'visible', timeout: 60_000 });
  const text = await row.innerText();
  assert.match(text, new RegExp(worker.name));
  const metres = Number(/(\d+) 米/.exec(text)?.[1]);
  assert.ok(metres > 30 && metres < 150, `distance ${metres} m`);
  assert.match(text, /步行约 \d+ 分钟/);
  // The detail shows the case's fields and its first event.
  const detail = page.locator('[data-testid="case-detail"]');
  assert.match(await detail.innerText(), new RegExp(kase.number));
  assert.equal(await page.locator('[data-testid="history"] [data-action="report"]').count(), 1);
  // On the map: the candidate is ringed where it stands.
  await waitForMapIdle(page);
  const ring = await drawnAt(page, 'dispatch-candidates', NEAR);
  assert.equal(ring?.id, worker.id);
  await screenshot(page, 'dispatch-candidates.png');
});

test('assigning by a click shows the case as dispatched in the other browser, live', async () => {
  const { page } = admin;
  await page.locator(`[data-testid="candidates"] button[data-candidate-id="${worker.id}"]`).click();
  await detailShows(page, kase.id, 'dispatched');
  assert.match(await page.locator('.dispatch__assignee').innerText(), new RegExp(worker.name));
  const history = page.locator('[data-testid="history"]');
  assert.equal(await history.locator('[data-action="accept"]').count(), 1);
  assert.match(await history.locator('[data-action="dispatch"]').innerText(), new RegExp(worker.name));
  // The other browser (another user) sees it change without a reload.
  await other.page.waitForFunction(
    (id) => document.querySelector(`.dispatch__list [data-case-id="${id}"]`)?.dataset.status === 'dispatched',
    kase.id,
    { timeout: 60_000, polling: 200 },
  );
  assert.equal(await other.page.evaluate(() => window.__noReload), true);
  // And the server agrees.
  const now = await api(token, 'GET', `/api/cases/${kase.id}`);
  assert.equal(now.status, 'dispatched');
  assert.equal(now.assignee.id, worker.id);
});

test('escalate goes into the history; escalating past the county shows the server’s error', async () => {
  const { page } = admin;
  await page.locator('.dispatch__note').fill('需要街道协调处置');
  await page.locator('button[data-action="escalate"]').click();
  await detailShows(page, kase.id, 'escalated');
  const ev = page.locator('[data-testid="history"] [data-action="escalate"]');
  await ev.first().waitFor();
  assert.match(await ev.first().innerText(), /需要街道协调处置/);
  await other.page.waitForFunction(
    (id) => document.querySelector(`.dispatch__list [data-case-id="${id}"]`)?.dataset.status === 'escalated',
    kase.id,
    { timeout: 60_000, polling: 200 },
  );
  // Someone else escalates it to the county; the open detail follows live.
  const before = await api(token, 'GET', `/api/cases/${kase.id}`);
  await api(token, 'POST', `/api/cases/${kase.id}/transition`, {
    action: 'escalate',
    version: before.version,
    note: 'e2e: to the county',
  });
  await page.waitForFunction(
    (v) => Number(document.querySelector('[data-testid="case-detail"]')?.dataset.version) > v,
    before.version,
    { timeout: 60_000, polling: 200 },
  );
  assert.equal(await page.locator('[data-testid="history"] [data-action="escalate"]').count(), 2);
  // The lifecycle still offers escalate; the server refuses it at the county.
  await page.locator('.dispatch__note').fill('再次升级');
  await page.locator('button[data-action="escalate"]').click();
  const error = page.locator('.dispatch__error');
  await error.waitFor({ state: 'visible', timeout: 60_000 });
  assert.equal(await error.getAttribute('data-code'), 'cannot_escalate');
  const shown = await error.innerText();
  assert.match(shown, /HTTP 409/);
  assert.match(shown, /already handled at the county/);
  const after = await api(token, 'GET', `/api/cases/${kase.id}`);
  assert.equal(after.handling_unit.level, 1);
  assert.equal(after.status, 'escalated');
  await screenshot(page, 'dispatch-error.png');
});

test('follow-up and close through the buttons; the closed case leaves the queues', async () => {
  const { page } = admin;
  // A case the worker has handled (through the API, as from the phone).
  let c = await createCase(token, NEAR, { title: `e2e 结案 ${tag}`, severity: 2 });
  c = await api(token, 'POST', `/api/cases/${c.id}/transition`, { action: 'accept', version: c.version });
  c = await api(token, 'POST', `/api/cases/${c.id}/transition`, {
    action: 'dispatch',
    version: c.version,
    assignee: worker.id,
  });
  c = await api(worker.deviceToken, 'POST', `/api/cases/${c.id}/transition`, { action: 'start', version: c.version });
  c = await api(worker.deviceToken, 'POST', `/api/cases/${c.id}/transition`, {
    action: 'resolve',
    version: c.version,
    note: '已清理',
  });
  await page.locator('.dispatch__search').fill(c.number);
  await item(page, c.id).waitFor({ state: 'visible', timeout: 60_000 });
  await item(page, c.id).click();
  await detailShows(page, c.id, 'resolved');
  await page.locator('.dispatch__note').fill('回访群众，满意');
  await page.locator('button[data-action="follow_up"]').click();
  await detailShows(page, c.id, 'followed_up');
  await page.locator('button[data-action="close"]').click();
  await detailShows(page, c.id, 'closed');
  const history = page.locator('[data-testid="history"]');
  assert.match(await history.locator('[data-action="follow_up"]').innerText(), /回访群众，满意/);
  assert.equal(await history.locator('[data-action="close"]').count(), 1);
  // Closed cases are not in the open queue, here or in the other browser.
  await item(page, c.id).waitFor({ state: 'detached', timeout: 60_000 });
  await item(other.page, c.id).waitFor({ state: 'detached', timeout: 60_000 });
});

test('keyboard: ↓ and Enter open a case, a digit assigns that candidate', async () => {
  const { page } = admin;
  const c = await createCase(token, HERE, { title: `e2e 键盘 ${tag}`, severity: 4 });
  await page.locator('.dispatch__search').fill(c.number);
  await item(page, c.id).waitFor({ state: 'visible', timeout: 60_000 });
  await page.locator('.dispatch__list').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await detailShows(page, c.id, 'reported');
  const rows = page.locator('[data-testid="candidates"] [data-worker-id]');
  await page.locator(`[data-testid="candidates"] [data-worker-id="${worker.id}"]`).waitFor({ timeout: 60_000 });
  const order = await rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-worker-id'))));
  const n = order.indexOf(worker.id) + 1;
  assert.ok(n >= 1 && n <= 9);
  await page.locator('.dispatch__list').focus();
  await page.keyboard.press(String(n));
  await detailShows(page, c.id, 'dispatched');
  const now = await api(token, 'GET', `/api/cases/${c.id}`);
  assert.equal(now.assignee.id, worker.id);
});

test('the queue is in the server\'s order, and its count says when more cases match than it loads', async () => {
  const { page } = admin;
  // Same severity; the later case has the nearer deadline (消防: 4 h, 矛盾纠纷: 72 h), so the
  // deadline order differs from the order of creation.
  const words = `队列顺序${tag}`;
  const slow = await createCase(token, [120.8712, 32.0111], {
    title: `${words} 邻里纠纷`,
    category: 'dispute',
    severity: 3,
  });
  const urgent = await createCase(token, [120.8688, 32.0093], {
    title: `${words} 楼道消防通道堵塞`,
    category: 'fire',
    severity: 3,
  });
  const fromServer = await api(token, 'GET', `/api/cases?order=queue&status=open&q=${encodeURIComponent(words)}`);
  assert.deepEqual(
    fromServer.cases.map((c) => c.id),
    [urgent.id, slow.id],
  );
  const shown = () =>
    page.locator('.dispatch__list [data-case-id]').evaluateAll((els) => els.map((e) => Number(e.dataset.caseId)));
  await page.locator('.dispatch__search').fill(words);
  await page.waitForFunction(
    (n) => document.querySelectorAll('.dispatch__list [data-case-id]').length === n,
    2,
    { timeout: 30_000 },
  );
  assert.deepEqual(await shown(), [urgent.id, slow.id]);
  const count = page.locator('[data-testid="queue-count"]');
  assert.equal(await count.textContent(), '2 件');

  // A busy territory: the list answer says more cases match than it holds (the real answer,
  // its total raised), and the count says so.
  const queueList = (url) => url.pathname === '/api/cases' && url.searchParams.get('order') === 'queue';
  await page.route(queueList, async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    await route.fulfill({ response, json: { ...json, total: 1234 } });
  });
  await page.locator('.dispatch__search').fill(`${words} `);
  await page.waitForFunction(
    () => document.querySelector('[data-testid="queue-count"]')?.textContent?.includes('1234'),
    null,
    { timeout: 30_000 },
  );
  assert.equal(await count.textContent(), '2 件（共 1234 件，已载入最紧急的 2 件）');
  assert.deepEqual(await shown(), [urgent.id, slow.id]);
  await page.unroute(queueList);
  await page.locator('.dispatch__search').fill('');
  await page.waitForFunction(
    () => !document.querySelector('[data-testid="queue-count"]')?.textContent?.includes('1234'),
    null,
    { timeout: 30_000 },
  );
});

// (The 3840×2160 screenshot is taken in dispatch-operator.test.mjs, to keep each file short.)
test('screenshot at 1920×1080; no console errors, no CSP violations', async () => {
  const { page } = admin;
  // The other browser is done: its map would only slow the big screenshots down.
  await other?.close();
  other = undefined;
  // A fuller queue for the picture: a few more cases around.
  const spots = [
    [120.8655, 32.0075, '占道经营', 2, 'city_appearance'],
    [120.874, 32.0122, '夜间施工噪音扰民', 1, 'environment'],
    [120.8682, 32.0138, '小区道路积水', 4, 'public_service'],
    [120.8727, 32.0068, '邻里纠纷', 3, 'dispute'],
  ];
  for (const [lng, lat, title, severity, category] of spots) {
    await createCase(token, [lng, lat], { title: `${title} ${tag}`, severity, category });
  }
  await page.locator('.dispatch__search').fill('');
  await page.locator('.dispatch__list [data-case-id]').nth(4).waitFor({ timeout: 60_000 });
  await item(page, kase.id).click();
  await detailShows(page, kase.id, 'escalated');
  await page.setViewportSize({ width: 1920, height: 1080 });
  await waitForMapIdle(page);
  await screenshot(page, 'dispatch-1920x1080.png');
  // The whole session stayed within the CSP and logged no errors.
  assert.deepEqual(admin.record.cspViolations, []);
  // The one refused request is the escalation past the county, on purpose.
  const refused = `/api/cases/${kase.id}/transition`;
  const errors = withoutExpected401(admin.record.consoleErrors).filter(
    (e) => !(e.includes('409') && e.includes(refused)),
  );
  assert.deepEqual(errors, []);
});
