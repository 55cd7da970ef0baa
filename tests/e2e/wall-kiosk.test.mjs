// Kiosk mode of the wall (`/wall?kiosk=1&interval=S`): a county dispatcher's wall tours the
// townships of the county one after the other on the timer, with the controls hidden (view
// switcher, account, language, drill-down hint); each stop re-subscribes the socket to that
// township and shows it in the breadcrumbs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { api, apiLogin, demoAccount } from './api.mjs';
import {
  gotoSignedOut,
  login,
  openBrowser,
  recordSocketFrames,
  subscribeMessages,
} from './helpers.mjs';

const INTERVAL_S = 4;

let browser;
let sockets;
let account;
let townships;

before(async () => {
  account = await demoAccount('dispatcher');
  const token = await apiLogin(account);
  const me = await api(token, 'GET', '/api/auth/me');
  assert.equal(me.user.scope.level, 1, 'the demo dispatcher works for a county');
  const list = await api(token, 'GET', `/api/units?parent=${me.user.scope.code}&level=2&simplify=2000`);
  townships = new Map(list.features.map((f) => [f.properties.code, f.properties.name]));
  browser = await openBrowser({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  sockets = recordSocketFrames(browser.page);
  await gotoSignedOut(browser.page, `/wall?kiosk=1&interval=${INTERVAL_S}`);
  await login(browser.page, account);
});

after(async () => {
  await browser?.close();
});

test('kiosk tours at least two townships of the scope on the timer, controls hidden', async () => {
  const { page } = browser;
  const visited = await page
    .waitForFunction(() => {
      const k = window.__gridwallWall?.kiosk;
      return k && new Set(k.visited).size >= 2 ? k.visited : false;
    }, null, { timeout: 90_000, polling: 250 })
    .then((h) => h.jsonValue());
  const distinct = [...new Set(visited)];
  assert.ok(distinct.length >= 2, `two townships visited (${distinct.join(',')})`);
  for (const code of distinct) assert.ok(townships.has(code), `${code} is a township of the scope`);
  const codes = await page.evaluate(() => window.__gridwallWall.kiosk.codes);
  assert.deepEqual(new Set(codes), new Set(townships.keys()), 'the tour covers every township');

  // The socket followed each stop.
  await page.waitForFunction(
    (c) => window.__gridwallWall.unit?.code === c,
    distinct[1],
    { timeout: 30_000 },
  ).catch(() => undefined);
  const subscribed = subscribeMessages(sockets).map((m) => m.unit);
  for (const code of distinct) assert.ok(subscribed.includes(code), `subscribed to ${code}`);

  // What is on screen: the township in the breadcrumbs, the kiosk badge, no controls.
  const here = await page.evaluate(() => window.__gridwallWall.unit);
  const crumb = await page.locator('#wall-crumbs [aria-current="page"]').textContent();
  assert.equal(crumb, here.name);
  assert.equal(await page.locator('#wall-kiosk').isVisible(), true, 'the kiosk badge shows');
  for (const sel of ['#nav', '#account', '#lang-toggle', '.wall-crumbs__hint', '.maplibregl-ctrl-zoom-in']) {
    assert.equal(await page.locator(sel).first().isVisible().catch(() => false), false, `${sel} is hidden`);
  }
  assert.doesNotMatch(page.url(), /[?&]unit=/, 'the tour does not rewrite the URL');
  assert.deepEqual(browser.record.cspViolations, []);
});
