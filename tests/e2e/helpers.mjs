// Shared set-up for the browser tests: a fresh headless Chromium (Debian's, never a
// downloaded one) on a throw-away profile, with every request, console error and failed
// response recorded so a test can assert the page is quiet and stays on its own origin.

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
  const record = { requests: [], consoleErrors: [], failures: [] };
  context.on('request', (request) => record.requests.push(request.url()));
  context.on('requestfailed', (request) =>
    record.failures.push(`${request.url()} failed: ${request.failure()?.errorText}`),
  );
  context.on('response', (response) => {
    if (response.status() >= 400) record.failures.push(`${response.url()} -> ${response.status()}`);
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') record.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => record.consoleErrors.push(`page error: ${error.message}`));

  const close = async () => {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  };
  return { context, page, record, close };
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
