// Territory (属地) in the browser: the demo accounts that `make demo` creates, signed in
// through the form, see their own territory only. The 崇川区 dispatcher's map draws 崇川区 and
// nothing of the six other counties, even where the view covers them; the city leader's map
// draws all seven. Credentials come from the demo-accounts file test.sh writes.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { demoAccount } from './api.mjs';
import {
  gotoSignedOut,
  jumpTo,
  login,
  openBrowser,
  renderedFeatures,
  screenshot,
  waitForMapIdle,
} from './helpers.mjs';

const NANTONG_CENTER = [120.86, 32.01];

const opened = [];
after(async () => {
  for (const b of opened) await b.close();
});

/** The county codes drawn when the whole city is in view. */
async function countiesSeenAs(username) {
  const browser = await openBrowser({ locale: 'zh-CN' });
  opened.push(browser);
  const { page } = browser;
  await gotoSignedOut(page);
  await login(page, await demoAccount(username));
  await waitForMapIdle(page);
  await jumpTo(page, NANTONG_CENTER, 8);
  const counties = new Set(
    (await renderedFeatures(page))
      .filter((f) => f.sourceLayer === 'county')
      .map((f) => String(f.properties.code)),
  );
  await screenshot(page, `scope-${username}.png`);
  return { counties, page };
}

test('the 崇川区 dispatcher sees 崇川区 and no other county', async () => {
  const { counties, page } = await countiesSeenAs('dispatcher');
  assert.deepEqual([...counties], ['320613']);
  assert.match(await page.locator('#account').innerText(), /崇川区/);
  // The API agrees: another county's unit does not exist for this account.
  const status = await page.evaluate(async () => (await fetch('/api/units/320612')).status);
  assert.equal(status, 404);
});

test('the city leader sees all seven counties', async () => {
  const { counties } = await countiesSeenAs('leader');
  assert.deepEqual(
    [...counties].sort(),
    ['320612', '320613', '320614', '320623', '320681', '320682', '320685'],
  );
});
