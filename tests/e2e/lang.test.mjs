// The UI language: an English browser gets the English sign-in screen; `?lang=en` gives
// English, the toggle switches back to Chinese and keeps the choice in the URL; map labels
// stay Chinese either way.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  HAN,
  gotoSignedOut,
  login,
  openBrowser,
  renderedFeatures,
  screenshot,
  waitForMapIdle,
  withoutExpected401,
} from './helpers.mjs';

let browser;

before(async () => {
  browser = await openBrowser({ locale: 'zh-CN' });
  await gotoSignedOut(browser.page, '/?lang=en');
  await login(browser.page);
  await waitForMapIdle(browser.page);
});

after(async () => {
  await browser?.close();
});

test('an English browser gets the English sign-in screen, then an English header', async () => {
  const english = await openBrowser({ locale: 'en-US' });
  try {
    const { page } = english;
    await gotoSignedOut(page);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal(await page.title(), 'Gridwall one map');
    assert.equal(await page.locator('#login-title').innerText(), 'Sign in');
    assert.equal(await page.locator('label[for="login-username"]').innerText(), 'User name');
    assert.equal(await page.locator('label[for="login-password"]').innerText(), 'Password');
    assert.equal(await page.locator('#login-submit').innerText(), 'Sign in');
    assert.equal(await page.locator('#lang-toggle').innerText(), '中文');
    await screenshot(page, 'login-en.png');

    // The toggle re-labels the open form in Chinese, and back.
    await page.locator('#lang-toggle').click();
    assert.equal(await page.locator('#login-title').innerText(), '登录');
    await page.locator('#lang-toggle').click();
    assert.equal(await page.locator('#login-submit').innerText(), 'Sign in');

    await login(page);
    await waitForMapIdle(page);
    assert.equal(await page.locator('#logout').innerText(), 'Sign out');
    assert.equal(await page.locator('#password-open').innerText(), 'Change password');
    const roles = ['Administrator', 'Leader', 'Dispatcher', 'Operator', 'Grid worker'];
    assert.ok(roles.includes(await page.locator('#account .account__role').innerText()));
    assert.deepEqual(withoutExpected401(english.record.consoleErrors), [], 'console errors');
    assert.deepEqual(english.record.cspViolations, [], 'CSP violations');
  } finally {
    await english.close();
  }
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
  assert.deepEqual(withoutExpected401(browser.record.consoleErrors), []);
  assert.deepEqual(withoutExpected401(browser.record.failures), []);
  assert.deepEqual(browser.record.cspViolations, []);
});
