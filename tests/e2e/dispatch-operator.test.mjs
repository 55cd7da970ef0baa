// Territory in the dispatch console: the demo operator (接线员) of 城东街道 (320613001) sees
// only the cases of that township in the queue, and no websocket frame the page receives ever
// carries another township's case or worker — before, while and after things happen there.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apiLogin, createCase, createWorker, demoAccount, locate, postPosition } from './api.mjs';
import { gotoSignedOut, login, openBrowser, screenshot, waitForMapIdle } from './helpers.mjs';

const OWN_TOWNSHIP = '320613001'; // 城东街道: the demo operator's territory
const OWN = [120.908, 32.0268]; // inside 城东街道
const OTHER = [120.9445, 32.022]; // inside 和平桥街道 (320613002), same county
const tag = Math.random().toString(36).slice(2, 7);

let token;
let browser;
/** Every JSON frame the page's websockets received. */
const frames = [];

before(async () => {
  token = await apiLogin();
  // The test's geography is what it says it is.
  assert.equal((await locate(token, OWN)).township.code, OWN_TOWNSHIP);
  assert.notEqual((await locate(token, OTHER)).township.code, OWN_TOWNSHIP);
  browser = await openBrowser({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  browser.page.on('websocket', (ws) => {
    ws.on('framereceived', (frame) => {
      try {
        frames.push(JSON.parse(String(frame.payload)));
      } catch {
        frames.push({ type: 'unparsed', raw: String(frame.payload) });
      }
    });
  });
});

after(async () => {
  await browser?.close();
});

/** Every case and resource the frames carried. */
function carried() {
  const cases = [];
  const resources = [];
  for (const f of frames) {
    if (f.type === 'cases_snapshot') cases.push(...(f.cases ?? []));
    if (f.type === 'cases') cases.push(...(f.changes ?? []).map((c) => c.case));
    if (f.type === 'snapshot') resources.push(...(f.resources ?? []));
    if (f.type === 'delta') {
      resources.push(...(f.entered ?? []), ...(f.moved ?? []));
      for (const id of [...(f.left ?? []), ...(f.removed ?? [])]) resources.push({ id });
    }
  }
  return { cases, resources };
}

test('the township operator’s queue and socket hold their township only', async () => {
  // Before the page opens: a case and a worker on each side of the line.
  const ownWorker = await createWorker(token, OWN, { tag: `e2e-op-own-${tag}` });
  const otherWorker = await createWorker(token, OTHER, { tag: `e2e-op-other-${tag}` });
  await postPosition(ownWorker.deviceToken, ownWorker.id, OWN);
  await postPosition(otherWorker.deviceToken, otherWorker.id, OTHER);
  const ownCase = await createCase(token, OWN, { title: `本街道事件 ${tag}` });
  const otherCase = await createCase(token, OTHER, { title: `外街道事件 ${tag}` });

  const { page } = browser;
  await gotoSignedOut(page, '/dispatch');
  await login(page, await demoAccount('operator'));
  await waitForMapIdle(page);
  const row = (id) => page.locator(`.dispatch__list [data-case-id="${id}"]`);
  await row(ownCase.id).waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await row(otherCase.id).count(), 0);

  // While the page is open: more on both sides. The own-side case comes last, so once it is
  // in the queue everything before it has been sent (or not) to this page.
  const otherLater = await createCase(token, OTHER, { title: `外街道新事件 ${tag}` });
  await postPosition(otherWorker.deviceToken, otherWorker.id, [OTHER[0] + 0.0005, OTHER[1]]);
  await postPosition(ownWorker.deviceToken, ownWorker.id, [OWN[0] + 0.0005, OWN[1]]);
  const ownLater = await createCase(token, OWN, { title: `本街道新事件 ${tag}` });
  await row(ownLater.id).waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await row(otherLater.id).count(), 0);

  // Every row of the queue is in the township (the API answers what the page shows).
  const ids = await page.locator('.dispatch__list [data-case-id]').evaluateAll((els) =>
    els.map((e) => Number(e.getAttribute('data-case-id'))),
  );
  assert.ok(ids.length >= 2);
  const grids = await page.evaluate(async (list) => {
    const out = [];
    for (const id of list) out.push((await (await fetch(`/api/cases/${id}`)).json()).grid.code);
    return out;
  }, ids);
  for (const g of grids) assert.ok(g.startsWith(OWN_TOWNSHIP), `queue case in grid ${g}`);

  // The frames: the own side arrived (positive control), the other side never did.
  const { cases, resources } = carried();
  assert.ok(cases.some((c) => c.id === ownLater.id), 'the new own-township case came over the socket');
  assert.ok(resources.some((r) => r.id === ownWorker.id), 'the own-township worker came over the socket');
  for (const c of cases) {
    assert.ok(String(c.grid).startsWith(OWN_TOWNSHIP), `case ${c.id} of grid ${c.grid} was sent`);
  }
  const foreignCases = new Set([otherCase.id, otherLater.id]);
  assert.ok(!cases.some((c) => foreignCases.has(c.id)));
  assert.ok(!resources.some((r) => r.id === otherWorker.id), 'the other township’s worker was sent');
  // Nothing in any frame names them either (not in alerts, not as text).
  const raw = JSON.stringify(frames);
  assert.ok(!raw.includes(otherWorker.name));
  assert.ok(!raw.includes(`外街道`));

  // The operator may accept but not dispatch: no one-click assign for them.
  await row(ownCase.id).click();
  const detail = page.locator('[data-testid="case-detail"]');
  await page.waitForFunction(
    (id) => {
      const d = document.querySelector('[data-testid="case-detail"]');
      return d?.dataset.state === 'loaded' && d.dataset.caseId === String(id);
    },
    ownCase.id,
    { timeout: 30_000 },
  );
  assert.equal(await detail.locator('button[data-action="accept"]').count(), 1);
  // Candidates: their own worker, and never the other township's (in the list or on the map).
  await detail.locator(`[data-testid="candidates"] [data-worker-id="${ownWorker.id}"]`).waitFor({ timeout: 60_000 });
  assert.equal(await detail.locator(`[data-worker-id="${otherWorker.id}"]`).count(), 0);
  const homes = await detail
    .locator('[data-testid="candidates"] [data-worker-id]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-home-grid')));
  for (const g of homes) assert.ok(String(g).startsWith(OWN_TOWNSHIP), `candidate homed in ${g}`);
  const assignButtons = detail.locator('button.dispatch__assign');
  for (let i = 0; i < (await assignButtons.count()); i += 1) {
    assert.equal(await assignButtons.nth(i).isDisabled(), true);
  }
  await screenshot(page, 'dispatch-operator.png');
});

test('screenshot of the console at 3840×2160', async () => {
  const { page } = browser;
  await page.setViewportSize({ width: 3840, height: 2160 });
  try {
    await waitForMapIdle(page, 90_000);
  } catch (err) {
    // Software GL at 4K on a loaded machine: take the picture as far as it got.
    console.warn(`dispatch 4K screenshot: ${err.message}`);
  }
  await screenshot(page, 'dispatch-3840x2160.png');
  // 4K is laid out for reading from a distance: the console's type grows.
  const size = await page.locator('.dispatch').evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  assert.ok(size >= 20, `font size ${size}px at 4K`);
});
