// Shared set-up for the browser tests: a fresh headless Chromium (Debian's, never a
// downloaded one) on a throw-away profile, with every request, console error, failed
// response and Content-Security-Policy violation recorded so a test can assert the page is
// quiet, stays on its own origin and lives within its CSP. `login` signs in through the real
// form with the account from GRIDWALL_E2E_USER / GRIDWALL_E2E_PASSWORD.

import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const SERVER_URL = new URL(process.env.GRIDWALL_URL ?? 'http://127.0.0.1:8080');
export const SCREENSHOT_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../screenshots',
);

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Opens a page in a new browser with its own empty profile.
 * @param {{ locale?: string, viewport?: { width: number, height: number } }} [options]
 */
export async function openBrowser(options = {}) {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'gridwall-e2e-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    locale: options.locale ?? 'zh-CN',
    viewport: options.viewport ?? { width: 1280, height: 800 },
    deviceScaleFactor: 1,
  });
  const record = { requests: [], consoleErrors: [], failures: [], cspViolations: [] };
  context.on('request', (request) => record.requests.push(request.url()));
  context.on('requestfailed', (request) =>
    record.failures.push(`${request.url()} failed: ${request.failure()?.errorText}`),
  );
  context.on('response', (response) => {
    if (response.status() >= 400) record.failures.push(`${response.url()} -> ${response.status()}`);
  });
  // CSP violations: the document's `securitypolicyviolation` events (an init script, which
  // the CSP does not apply to, reports them through a binding) and the console messages
  // Chromium prints for them, in the page and in its workers.
  await context.exposeBinding('__gridwallCspViolation', (_source, violation) =>
    record.cspViolations.push(violation),
  );
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = window['__gridwallCspViolation'];
      if (typeof report === 'function') {
        void report(`${event.effectiveDirective} blocked ${event.blockedURI || '(inline)'} at ${event.sourceFile}:${event.lineNumber}`);
      }
    });
  });
  const onConsole = (message) => {
    const text = message.text();
    if (/Content.Security.Policy/i.test(text)) record.cspViolations.push(`console: ${text}`);
    if (message.type() !== 'error') return;
    // Chromium names the URL of a failed load only in the message's location.
    const url = message.location()?.url;
    record.consoleErrors.push(/^Failed to load resource/.test(text) && url ? `${text} (${url})` : text);
  };
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', onConsole);
  page.on('worker', (worker) =>
    worker.on('console', (message) => {
      // Messages of dedicated workers may also reach the page's listener: count them once.
      if (message.page() === null) onConsole(message);
    }),
  );
  page.on('pageerror', (error) => record.consoleErrors.push(`page error: ${error.message}`));

  const close = async () => {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  };
  return { context, page, record, close };
}

/** The account the tests sign in with (test.sh creates it). */
export function credentials() {
  const username = process.env.GRIDWALL_E2E_USER;
  const password = process.env.GRIDWALL_E2E_PASSWORD;
  if (!username || !password) {
    throw new Error('set GRIDWALL_E2E_USER and GRIDWALL_E2E_PASSWORD to an account on the server');
  }
  return { username, password };
}

/**
 * Signs in through the page's form (typing, then Enter) and waits until the page has taken
 * the session, or throws with the form's error message.
 * @param {import('playwright-core').Page} page
 * @param {{ username: string, password: string }} [account]
 */
export async function login(page, account = credentials()) {
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: 30_000 });
  await page.locator('#login-username').fill(account.username);
  await page.locator('#login-password').fill(account.password);
  await page.locator('#login-password').press('Enter');
  const outcome = await page.waitForFunction(
    () => {
      if (document.body.dataset.auth === 'signed-in') return 'signed-in';
      const error = document.getElementById('login-error');
      return error && !error.hidden ? `error: ${error.textContent}` : false;
    },
    null,
    { timeout: 30_000 },
  );
  const result = await outcome.jsonValue();
  if (result !== 'signed-in') throw new Error(`sign-in as ${account.username} failed: ${result}`);
}

/** Opens `path` of the server and waits until the sign-in form is shown. */
export async function gotoSignedOut(page, path = '/') {
  await page.goto(new URL(path, SERVER_URL).href, { waitUntil: 'load' });
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: 30_000 });
}

/**
 * Leaves out of a record's `failures` or `consoleErrors` what is expected while signed out:
 * 401 answers (and Chromium's console line for them) from the given paths, by default the
 * page's first `/api/auth/me`, which always comes before signing in.
 */
export function withoutExpected401(entries, paths = ['/api/auth/me']) {
  return entries.filter((entry) => {
    const is401 = / -> 401$/.test(entry) || /status of 401/.test(entry);
    return !(is401 && paths.some((p) => entry.includes(new URL(p, SERVER_URL).href)));
  });
}

/** Requests that left the server's origin (data: and blob: URLs stay inside the page). */
export function foreignRequests(urls) {
  return urls.filter((url) => {
    const parsed = new URL(url);
    if (parsed.protocol === 'data:' || parsed.protocol === 'blob:') return false;
    return parsed.origin !== SERVER_URL.origin;
  });
}

/** Waits for `window.__gridwallMap` and then for it to be idle (style, tiles, placement done). */
export async function waitForMapIdle(page, timeout = 60_000) {
  await page.waitForFunction(() => window.__gridwallMap !== undefined, null, { timeout });
  await page.evaluate(
    (ms) =>
      new Promise((resolve, reject) => {
        const map = window.__gridwallMap;
        const timer = setTimeout(() => reject(new Error(`map not idle after ${ms} ms`)), ms);
        map.once('idle', () => {
          clearTimeout(timer);
          resolve();
        });
        // An already idle map fires `idle` again after this frame.
        map.triggerRepaint();
      }),
    timeout,
  );
  // Let the symbol fade-in (300 ms) finish so screenshots show labels at full strength.
  await page.waitForTimeout(400);
}

/** Moves the map without animation and waits until it is idle again. */
export async function jumpTo(page, center, zoom) {
  await page.evaluate(([c, z]) => window.__gridwallMap.jumpTo({ center: c, zoom: z }), [center, zoom]);
  await waitForMapIdle(page);
}

/**
 * The features drawn in the viewport, flattened to plain data: source layer, properties,
 * and for points their [lng, lat].
 */
export async function renderedFeatures(page) {
  return page.evaluate(() => {
    const map = window.__gridwallMap;
    return map.queryRenderedFeatures().map((f) => ({
      layerType: f.layer.type,
      sourceLayer: f.sourceLayer,
      properties: f.properties,
      point: f.geometry.type === 'Point' ? f.geometry.coordinates : undefined,
    }));
  });
}

export async function screenshot(page, name) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, name);
  await page.screenshot({ path: file });
  return file;
}

export const HAN = /\p{Script=Han}/u;

/**
 * Records the frames the page sends on its websockets; returns the list of sockets, each
 * `{ sent: string[] }`, so a test can look at the `subscribe` messages it sent.
 * @param {import('playwright-core').Page} page
 */
export function recordSocketFrames(page) {
  const sockets = [];
  page.on('websocket', (ws) => {
    const entry = { url: ws.url(), sent: [] };
    sockets.push(entry);
    ws.on('framesent', (frame) => entry.sent.push(String(frame.payload)));
  });
  return sockets;
}

/** The `subscribe` messages sent on any recorded socket, parsed, oldest first. */
export function subscribeMessages(sockets) {
  return sockets
    .flatMap((s) => s.sent)
    .map((text) => {
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    })
    .filter((m) => m?.type === 'subscribe');
}

/**
 * Waits until the map has stopped moving (a fly or fit animation) and has its style and
 * tiles loaded. Unlike `waitForMapIdle` it does not wait for MapLibre's `idle` event, which
 * never comes while something on the map animates (pulsing alerts on the wall).
 */
export async function waitForMapSettled(page, timeout = 60_000) {
  await page.waitForFunction(
    () => {
      const map = window.__gridwallMap;
      return map && !map.isMoving() && map.isStyleLoaded() && map.areTilesLoaded();
    },
    null,
    { timeout, polling: 200 },
  );
  // Let the symbol fade-in (300 ms) finish so screenshots show labels at full strength.
  await page.waitForTimeout(400);
}
