// SOS on the wall (web/src/wall/sos.ts): a worker's phone reporting SOS (a position with
// `sos: true`, as the app sends it) raises an SOS alert; the wall shows a red banner with the
// worker's name at once, flashes its "enable sound" button, and once sound is enabled sounds
// a WebAudio siren. Acknowledging the alert through the API takes the banner down and stops
// the siren.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { api, apiLogin, createWorker, locate, postPosition } from './api.mjs';
import { gotoSignedOut, login, openBrowser, screenshot, waitForMapSettled } from './helpers.mjs';

// 崇川区 / 和平桥街道: away from the other wall tests' data.
const HERE = [120.944, 32.022];

let browser;
let token;
let worker;
let place;

/** Clears a resource's SOS as an operator does (resolves its SOS alert). */
async function clearSos(resourceId) {
  await api(token, 'DELETE', `/api/resources/${resourceId}/sos`);
}

before(async () => {
  token = await apiLogin();
  place = await locate(token, HERE);
  // An SOS left in this township by an earlier run would be on the wall already.
  const live = await api(token, 'GET', '/api/alerts?kind=sos&status=live&limit=1000');
  for (const a of live.alerts) {
    if (a.unit?.code?.startsWith(place.township.code)) await clearSos(Number(a.entity_id));
  }
  worker = await createWorker(token, HERE, { tag: 'e2e-sos' });
  await postPosition(worker.deviceToken, worker.id, HERE);
  browser = await openBrowser({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  // Straight to the township: a small map draws fast.
  await gotoSignedOut(browser.page, `/wall?unit=${place.township.code}`);
  await login(browser.page);
  await browser.page.waitForFunction(
    (c) => window.__gridwallWall?.unit?.code === c,
    place.township.code,
    { timeout: 60_000 },
  );
  await waitForMapSettled(browser.page);
});

after(async () => {
  await browser?.close();
});

async function until(fn, arg, timeout = 30_000) {
  const handle = await browser.page.waitForFunction(fn, arg, { timeout, polling: 200 });
  return handle.jsonValue();
}

/** The open SOS alert about our worker, once the server has raised it. */
async function sosAlert() {
  for (let i = 0; i < 50; i += 1) {
    const list = await api(token, 'GET', '/api/alerts?kind=sos&status=open&limit=1000');
    const mine = list.alerts.find((a) => a.entity_id === String(worker.id));
    if (mine) return mine;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('no SOS alert was raised');
}

test('an SOS shows the banner with the name; sound can be enabled; acknowledging ends it', async () => {
  const { page } = browser;
  assert.equal(await page.locator('#wall-sos').isVisible(), false, 'no banner before the SOS');
  const soundButton = page.locator('#wall-sound');
  assert.equal(await soundButton.isVisible(), true, 'the enable-sound button is there');

  await postPosition(worker.deviceToken, worker.id, HERE, { sos: true });
  const alert = await sosAlert();
  await page.locator('#wall-sos').waitFor({ state: 'visible', timeout: 30_000 });
  const text = await page.locator('#wall-sos').textContent();
  assert.ok(text.includes(worker.name), `the banner names the worker (got ${text})`);
  assert.ok(await page.evaluate((id) => window.__gridwallWall.sos.includes(id), alert.id));
  assert.match(await soundButton.getAttribute('class'), /wall-sound--needed/, 'the button asks for sound');
  // The ticker says so too.
  await page.locator('#wall-ticker .wall-ticker__item--sos').first().waitFor({ timeout: 10_000 });

  // Browsers start audio only from a gesture: the button does it, and the siren sounds.
  await soundButton.click();
  const sound = await until(() => {
    const s = window.__gridwallWall.sound;
    return s.enabled && s.playing ? s : false;
  });
  assert.deepEqual(sound, { enabled: true, playing: true });
  await screenshot(page, 'wall-sos-1280x800.png');

  await api(token, 'POST', `/api/alerts/${alert.id}/acknowledge`, { note: 'e2e: on the way' });
  await page.locator('#wall-sos').waitFor({ state: 'hidden', timeout: 30_000 });
  const after = await until((id) => {
    const w = window.__gridwallWall;
    return w.sos.includes(id) ? false : w.sound;
  }, alert.id);
  assert.equal(after.playing, false, 'the siren stops');
  assert.equal(after.enabled, true, 'sound stays enabled for the next SOS');

  // Clean up for the files after this one: an SOS is sticky until someone clears it
  // (`DELETE /api/resources/{id}/sos`), which resolves the alert; until then it stays live.
  // The alert engine resolves it from the live stream, just after the 204.
  await clearSos(worker.id);
  let resolved = false;
  for (let i = 0; i < 100 && !resolved; i++) {
    const live = await api(token, 'GET', '/api/alerts?kind=sos&status=live&limit=1000');
    resolved = !live.alerts.some((a) => a.id === alert.id);
    if (!resolved) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(resolved, 'clearing the SOS resolved the alert within 20 s');
  assert.deepEqual(browser.record.cspViolations, []);
});
