// First load of a view (issue 7): the bundle's size, and the time from navigation to the first
// drawn map (MapLibre's `load`) and to a complete one (`idle`: tiles and labels drawn) on
// loopback with an empty cache, for an already signed-in browser (the session cookie is set
// before the page is opened, as after a restart of the wall's PC).
//
//   node bench/first-load.mjs [--path /wall] [--runs 5] [--dist ../../web/dist]
//
// Needs GRIDWALL_URL, GRIDWALL_E2E_USER and GRIDWALL_E2E_PASSWORD like the tests.

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import { SERVER_URL, credentials, openBrowser } from '../helpers.mjs';

const { values: args } = parseArgs({
  options: {
    path: { type: 'string', default: '/wall' },
    runs: { type: 'string', default: '5' },
    dist: { type: 'string', default: path.resolve(import.meta.dirname, '../../../web/dist') },
  },
});

// Bundle: every file the page loads from web/dist/assets, raw and gzip-compressed.
const assets = path.join(args.dist, 'assets');
let raw = 0;
let gz = 0;
const rows = [];
for (const name of (await readdir(assets)).sort()) {
  const body = await readFile(path.join(assets, name));
  const z = gzipSync(body, { level: 6 }).length;
  raw += body.length;
  gz += z;
  rows.push(`| ${name} | ${(body.length / 1024).toFixed(0)} KiB | ${(z / 1024).toFixed(0)} KiB |`);
}
console.log('| asset | size | gzip |\n|---|---:|---:|');
console.log(rows.join('\n'));
console.log(`| all | ${(raw / 1024).toFixed(0)} KiB | ${(gz / 1024).toFixed(0)} KiB |\n`);

// A session for the browser.
const login = await fetch(new URL('/api/auth/login', SERVER_URL), {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(credentials()),
});
if (!login.ok) throw new Error(`login failed: HTTP ${login.status}`);
const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
const [cookieName, cookieValue] = cookie.split('=');
if (!cookieName || !cookieValue) throw new Error('the login answer set no session cookie');

const times = [];
for (let run = 0; run < Number(args.runs); run += 1) {
  const browser = await openBrowser({ viewport: { width: 1920, height: 1080 } });
  try {
    await browser.context.addCookies([
      { name: cookieName, value: cookieValue, url: SERVER_URL.href, httpOnly: true },
    ]);
    const t0 = Date.now();
    await browser.page.goto(new URL(args.path, SERVER_URL).href, { waitUntil: 'commit' });
    const marks = await browser.page.evaluate(
      () =>
        new Promise((resolve) => {
          const wait = () => {
            const map = window.__gridwallMap;
            if (!map) return void setTimeout(wait, 5);
            const out = {};
            const done = () => {
              if (out.load !== undefined && out.idle !== undefined) resolve(out);
            };
            const mark = (k) => () => {
              out[k] ??= performance.now();
              done();
            };
            if (map.loaded()) out.load = performance.now();
            else map.once('load', mark('load'));
            map.once('idle', mark('idle'));
          };
          wait();
        }),
    );
    const nav = await browser.page.evaluate(() => performance.timeOrigin);
    times.push({ load: marks.load, idle: marks.idle, navStartOffset: nav - t0 });
    console.log(`run ${run + 1}: first map ${marks.load.toFixed(0)} ms, complete ${marks.idle.toFixed(0)} ms`);
  } finally {
    await browser.close();
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `\nmedian of ${times.length}: first map ${med(times.map((t) => t.load)).toFixed(0)} ms, complete ${med(times.map((t) => t.idle)).toFixed(0)} ms after navigation start`,
);
