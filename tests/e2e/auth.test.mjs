// Signing in and out: the sign-in screen comes before any map, in Chinese for a zh-CN
// browser; wrong credentials, throttling and failures get clear messages; signing out, or a
// session that ends under the map, returns to the form; the change-password dialog checks
// its fields and a change ends every session. The account's password is changed and restored
// (also when a test fails half-way).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import {
  SERVER_URL,
  credentials,
  foreignRequests,
  gotoSignedOut,
  login,
  openBrowser,
  screenshot,
  waitForMapIdle,
} from './helpers.mjs';

let browser;

before(async () => {
  browser = await openBrowser({ locale: 'zh-CN' });
});

after(async () => {
  await browser?.close();
});

/** The text of an element once it is visible. */
async function visibleText(page, selector) {
  const locator = page.locator(selector);
  await locator.waitFor({ state: 'visible', timeout: 10_000 });
  return locator.innerText();
}

async function mapExists(page) {
  return page.evaluate(
    () => window.__gridwallMap !== undefined || document.querySelector('#map canvas') !== null,
  );
}

/** Status of a same-origin request made by the page itself (so with its cookies, if any). */
async function statusFromPage(page, path) {
  return page.evaluate(async (p) => (await fetch(p)).status, path);
}

test('the sign-in screen comes first, in Chinese, and no map is made', async () => {
  const { page } = browser;
  await gotoSignedOut(page);
  assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
  assert.equal(await page.locator('#login-title').innerText(), '登录');
  assert.equal(await page.locator('label[for="login-username"]').innerText(), '用户名');
  assert.equal(await page.locator('label[for="login-password"]').innerText(), '密码');
  assert.equal(await page.locator('#login-submit').innerText(), '登录');
  assert.equal(await page.locator('#login-username').getAttribute('autocomplete'), 'username');
  assert.equal(await page.locator('#login-password').getAttribute('autocomplete'), 'current-password');
  assert.equal(await page.locator('#login-password').getAttribute('type'), 'password');
  assert.ok(await page.locator('#login-username').evaluate((el) => el === document.activeElement));
  assert.equal(await mapExists(page), false, 'a map exists before signing in');
  assert.equal(await page.locator('#legend').isVisible(), false);
  assert.equal(await page.locator('#account').isVisible(), false);
  await screenshot(page, 'login.png');
});

test('empty fields are refused without asking the server', async () => {
  const { page, record } = browser;
  await page.locator('#login-submit').click();
  assert.equal(await visibleText(page, '#login-error'), '请输入用户名和密码。');
  assert.ok(!record.requests.some((url) => url.endsWith('/api/auth/login')));
});

test('a wrong password shows the error and no map', async () => {
  const { page } = browser;
  await page.locator('#login-username').fill(credentials().username);
  await page.locator('#login-password').fill(`wrong-${randomBytes(6).toString('hex')}`);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/auth/login'));
  await page.locator('#login-password').press('Enter');
  assert.equal((await answer).status(), 401);
  assert.equal(await visibleText(page, '#login-error'), '用户名或密码错误。');
  assert.equal(await page.locator('#login-password').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#login-submit').isEnabled(), true);
  assert.equal(await mapExists(page), false, 'a map was made after a refused sign-in');
  await screenshot(page, 'login-wrong-password.png');
});

test('throttling, server and network failures each get their message', async () => {
  const { page } = browser;
  const route = '**/api/auth/login';
  const submit = async () => {
    await page.locator('#login-username').fill('someone');
    await page.locator('#login-password').fill('something');
    await page.locator('#login-password').press('Enter');
  };
  try {
    await page.route(route, (r) =>
      r.fulfill({
        status: 429,
        headers: { 'Retry-After': '42' },
        contentType: 'application/json',
        body: JSON.stringify({
          error: { code: 'too_many_attempts', message: 'too many', details: { retry_after_s: 42 } },
        }),
      }),
    );
    await submit();
    assert.match(await visibleText(page, '#login-error'), /^登录尝试次数过多，请 (42|41|40) 秒后再试。$/);
    assert.equal(await page.locator('#login-submit').isDisabled(), true, 'submit open while throttled');

    await gotoSignedOut(page); // a fresh form, without the countdown
    await page.route(route, (r) =>
      r.fulfill({ status: 500, contentType: 'application/json', body: '{"error":{"code":"internal"}}' }),
    );
    await submit();
    assert.equal(await visibleText(page, '#login-error'), '服务器出错（HTTP 500），请稍后再试。');

    await page.unroute(route);
    await page.route(route, (r) => r.abort('connectionrefused'));
    await submit();
    assert.equal(await visibleText(page, '#login-error'), '无法连接服务器，请检查网络后重试。');
  } finally {
    await page.unroute(route);
  }
  await gotoSignedOut(page);
});

test('signing in shows the map; signing out returns to the form and ends the session', async () => {
  const { page } = browser;
  await login(page);
  await waitForMapIdle(page);
  assert.equal(await statusFromPage(page, '/api/units/320600'), 200);
  await screenshot(page, 'signed-in.png');

  await page.locator('#logout').click();
  assert.equal(await visibleText(page, '#login-notice'), '已退出登录。');
  assert.equal(await mapExists(page), false, 'the map is still there after signing out');
  assert.equal(await page.locator('#account').isVisible(), false);
  assert.equal(await statusFromPage(page, '/api/units/320600'), 401);
  assert.equal(await statusFromPage(page, '/tiles/units.json'), 401);
  assert.equal(await statusFromPage(page, '/api/auth/me'), 401);
});

test('a session that ends under the map returns to the sign-in screen', async () => {
  const { page, context } = { ...browser };
  await login(page);
  await waitForMapIdle(page);
  // The server no longer knows the browser: the next tiles are answered 401.
  await context.clearCookies();
  await page.evaluate(() => {
    const map = window.__gridwallMap;
    map.jumpTo({ center: map.getCenter().toArray().map((v) => v + 0.05), zoom: 14 });
  });
  assert.equal(await visibleText(page, '#login-notice'), '会话已过期，请重新登录');
  assert.equal(await mapExists(page), false, 'the map is still there after the session ended');
  assert.equal(await page.locator('#login-username').inputValue(), credentials().username);
  assert.ok(await page.locator('#login-password').evaluate((el) => el === document.activeElement));
  await screenshot(page, 'login-expired.png');
});

/** Changes the password over HTTP (not the page): to restore it if a test stops half-way. */
async function changePasswordDirectly(username, from, to) {
  const json = { 'Content-Type': 'application/json' };
  const signIn = await fetch(new URL('/api/auth/login', SERVER_URL), {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ username, password: from }),
  });
  if (!signIn.ok) return false;
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0];
  const change = await fetch(new URL('/api/auth/password', SERVER_URL), {
    method: 'POST',
    headers: { ...json, Cookie: cookie },
    body: JSON.stringify({ current_password: from, new_password: to }),
  });
  return change.status === 204;
}

/** Fills and sends the change-password dialog. */
async function submitPasswordDialog(page, current, next, again = next) {
  await page.locator('#password-current').fill(current);
  await page.locator('#password-new').fill(next);
  await page.locator('#password-confirm').fill(again);
  await page.locator('#password-submit').click();
}

test('the password dialog checks its fields, and a change ends every session', async () => {
  const { page } = browser;
  const { username, password } = credentials();
  const changed = `${password}-${randomBytes(4).toString('hex')}`;
  let current = password;
  try {
    await login(page);
    await waitForMapIdle(page);

    await page.locator('#password-open').click();
    assert.equal(await visibleText(page, '#password-dialog .dialog__title'), '修改密码');
    assert.equal(await page.locator('#password-current').getAttribute('autocomplete'), 'current-password');
    assert.equal(await page.locator('#password-new').getAttribute('autocomplete'), 'new-password');
    await submitPasswordDialog(page, password, 'short', 'short');
    assert.equal(await visibleText(page, '#password-error'), '新密码至少需要 10 个字符。');
    await submitPasswordDialog(page, password, changed, `${changed}x`);
    assert.equal(await visibleText(page, '#password-error'), '两次输入的新密码不一致。');
    await submitPasswordDialog(page, `wrong-${randomBytes(6).toString('hex')}`, changed);
    assert.equal(await visibleText(page, '#password-error'), '当前密码不正确。');
    assert.equal(await page.evaluate(() => document.body.dataset.auth), 'signed-in');
    await screenshot(page, 'password-dialog.png');
    await page.keyboard.press('Escape');
    await page.locator('#password-dialog').waitFor({ state: 'detached' });

    await page.locator('#password-open').click();
    await submitPasswordDialog(page, password, changed);
    assert.equal(await visibleText(page, '#login-notice'), '密码已修改，请用新密码重新登录。');
    current = changed;
    assert.equal(await mapExists(page), false);
    assert.equal(await statusFromPage(page, '/api/auth/me'), 401, 'the session outlived the change');

    await login(page, { username, password: changed });
    await page.locator('#password-open').click();
    await submitPasswordDialog(page, changed, password);
    await page.locator('#login-notice').waitFor({ state: 'visible' });
    current = password;
    await login(page, { username, password });
    await waitForMapIdle(page);
  } finally {
    if (current !== password) {
      assert.ok(await changePasswordDirectly(username, current, password), 'could not restore the password');
    }
  }
});

test('only expected refusals, no CSP violation, no foreign request', () => {
  const { record } = browser;
  // 401s of this file's own doing, the mocked 429/500 and the refused connection.
  const expected = (entry) =>
    /(-> |status of )(401|429|500)\b/.test(entry) || /ERR_CONNECTION_REFUSED|net::ERR_FAILED/.test(entry);
  assert.deepEqual(record.consoleErrors.filter((e) => !expected(e)), [], 'console errors');
  assert.deepEqual(record.failures.filter((e) => !expected(e)), [], 'failed requests');
  assert.deepEqual(record.cspViolations, [], 'CSP violations');
  assert.deepEqual(foreignRequests(record.requests), [], 'requests to other hosts');
});
