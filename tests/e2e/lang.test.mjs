// The UI language: `?lang=en` gives English, the toggle switches back to Chinese and keeps
// the choice in the URL; map labels stay Chinese either way.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { HAN, SERVER_URL, openBrowser, renderedFeatures, screenshot, waitForMapIdle } from './helpers.mjs';

let browser;

before(async () => {
  browser = await openBrowser({ locale: 'zh-CN' });
  await browser.page.goto(new URL('/?lang=en', SERVER_URL).href, { waitUntil: 'load' });
  await waitForMapIdle(browser.page);
});

after(async () => {
  await browser?.close();
});

test('?lang=en shows the English interface over Chinese labels', async () => {
  const { page } = browser;
  assert.equal(await page.title(), 'Gridwall one map');
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  const legend = await page.locator('#legend').innerText();
  for (const name of ['County', 'Township', 'Village', 'Grid']) {
    assert.ok(legend.includes(name), `legend lacks ${name}: ${legend}`);
  }
  const labels = (await renderedFeatures(page)).filter((f) => f.layerType === 'symbol');
  assert.ok(labels.some((f) => HAN.test(String(f.properties.name))), 'map labels are not Chinese');
  await screenshot(page, 'map-initial-en.png');
});

test('the language toggle switches to Chinese and records it in the URL', async () => {
  const { page } = browser;
  await page.locator('#lang-toggle').click();
  await page.waitForFunction(() => document.documentElement.lang === 'zh-CN');
  assert.equal(await page.title(), 'Gridwall 一张图');
  assert.ok((await page.locator('#legend').innerText()).includes('县（市、区）'));
  assert.equal(new URL(page.url()).searchParams.get('lang'), 'zh-CN');
  assert.equal(await page.locator('#lang-toggle').innerText(), 'English');
});

test('no console errors', () => {
  assert.deepEqual(browser.record.consoleErrors, []);
  assert.deepEqual(browser.record.failures, []);
});
