// The live layer every view shares (web/src/live/): a worker's position posted through the API
// appears and moves on the map; a fix older than five minutes is drawn as stale, never as
// live; when the socket drops the page reconnects by itself and subscribes again; while it
// cannot reconnect the badge says so and after 20 s every marker is drawn as stale, and once
// the server is reachable again markers are live again.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apiLogin, createWorker, postPosition } from './api.mjs';
import { gotoSignedOut, jumpTo, login, openBrowser, screenshot, waitForMapIdle } from './helpers.mjs';

// In 崇川区 (狼山镇街道): any point inside a grid will do.
const HERE = [120.87, 32.01];
const LIVE_WORKER = [52, 211, 153, 255];
const STALE = [120, 128, 140, 110];

let browser;
let token;
let worker;
/** Every websocket the page opened, with the frames it sent. */
const sockets = [];
/** While true, the page's websocket connections are refused (an outage). */
let outage = false;

before(async () => {
  token = await apiLogin();
  worker = await createWorker(token, HERE, { tag: 'e2e-live' });
  await postPosition(worker.deviceToken, worker.id, HERE);
  browser = await openBrowser({ locale: 'zh-CN' });
  const { page } = browser;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (outage) {
      ws.close({ code: 1011, reason: 'e2e outage' });
      return;
    }
    ws.connectToServer();
  });
  page.on('websocket', (ws) => {
    const entry = { ws, sent: [], closed: false };
    sockets.push(entry);
    ws.on('framesent', (frame) => entry.sent.push(String(frame.payload)));
    ws.on('close', () => {
      entry.closed = true;
    });
  });
  await gotoSignedOut(page);
  await login(page);
  await waitForMapIdle(page);
  await jumpTo(page, HERE, 15);
});

after(async () => {
  await browser?.close();
});

/** Waits until `fn` (run in the page with `arg`) returns a truthy value; returns it. */
async function until(fn, arg, timeout = 30_000) {
  const handle = await browser.page.waitForFunction(fn, arg, { timeout, polling: 200 });
  return handle.jsonValue();
}

const colorOf = (id) =>
  browser.page.evaluate((i) => window.__gridwallLive.overlay.colorOf(i) ?? null, id);

test('a posted position appears on the map and then moves the marker', async () => {
  await until((id) => window.__gridwallLive?.client.resources.has(id), worker.id);
  assert.deepEqual(await colorOf(worker.id), LIVE_WORKER);
  const there = [HERE[0] + 0.001, HERE[1] + 0.0005];
  await postPosition(worker.deviceToken, worker.id, there);
  const drawn = await until(
    ([id, [x, y]]) => {
      const p = window.__gridwallLive.overlay.positionOf(id);
      return p && Math.abs(p[0] - x) < 1e-6 && Math.abs(p[1] - y) < 1e-6 ? p : false;
    },
    [worker.id, there],
  );
  assert.ok(drawn, 'the marker reached the new position');
  assert.match(await browser.page.locator('#conn').innerText(), /实时/);
});

test('a fix older than five minutes is drawn as stale', async () => {
  const old = await createWorker(token, HERE, { tag: 'e2e-live-old' });
  const tenMinutesAgo = new Date(Date.now() - 10 * 60_000).toISOString();
  await postPosition(old.deviceToken, old.id, [HERE[0] - 0.001, HERE[1]], { at: tenMinutesAgo });
  await until((id) => window.__gridwallLive.client.resources.has(id), old.id);
  await until((id) => window.__gridwallLive.overlay.colorOf(id) !== undefined, old.id);
  assert.deepEqual(await colorOf(old.id), STALE);
  assert.deepEqual(await colorOf(worker.id), LIVE_WORKER);
});

test('a dropped socket reconnects by itself and subscribes again', async () => {
  const before = sockets.length;
  assert.ok(before >= 1, 'the page opened a websocket');
  await browser.page.evaluate(() => window.__gridwallLive.client['socket']?.close());
  // A new socket, on which the page subscribed again, and the snapshot brought the worker back.
  const subscribed = () =>
    sockets.length > before &&
    sockets[sockets.length - 1].sent.some((f) => JSON.parse(f).type === 'subscribe');
  for (let waited = 0; !subscribed() && waited < 30_000; waited += 200) {
    await browser.page.waitForTimeout(200);
  }
  assert.ok(subscribed(), `a new socket opened and subscribed (${sockets.length} sockets)`);
  await until(
    (id) =>
      window.__gridwallLive.client.connection === 'live' &&
      window.__gridwallLive.client.resources.has(id),
    worker.id,
  );
});

test('during an outage the badge says so and markers fade; afterwards they are live again', async () => {
  const { page } = browser;
  outage = true;
  await page.evaluate(() => window.__gridwallLive.client['socket']?.close());
  await until(() => window.__gridwallLive.client.connection === 'reconnecting');
  assert.equal(await page.locator('#conn').getAttribute('data-state'), 'reconnecting');
  assert.match(await page.locator('#conn').innerText(), /重连中/);
  // Still drawn as live within the grace period …
  assert.deepEqual(await colorOf(worker.id), LIVE_WORKER);
  // … and as stale once the socket has been down for more than 20 s.
  await until(
    ([id, stale]) => {
      const c = window.__gridwallLive.overlay.colorOf(id);
      return c && c.every((v, i) => v === stale[i]);
    },
    [worker.id, STALE],
    45_000,
  );
  await screenshot(page, 'live-outage.png');
  outage = false;
  await until(() => window.__gridwallLive.client.connection === 'live', undefined, 60_000);
  await until(
    ([id, live]) => {
      const c = window.__gridwallLive.overlay.colorOf(id);
      return c && c.every((v, i) => v === live[i]);
    },
    [worker.id, LIVE_WORKER],
  );
  assert.equal(await page.locator('#conn').getAttribute('data-state'), 'live');
});
