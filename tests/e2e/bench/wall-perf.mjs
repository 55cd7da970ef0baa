// Browser benchmark of the live map (issue 7): frame time with N moving workers each updating
// every 5 s, the cost of applying one delta, and the JS heap over a long run (no growth).
//
// Headless Chromium (Debian's, software GL through SwiftShader) signs in to a running server,
// opens a view, and then feeds the page's live client synthetic `snapshot` and `delta`
// messages exactly as the websocket would deliver them (JSON text, parsed in the page, 10
// deltas a second with N / 50 moved workers each), so the figures are the client's own: parse,
// apply, interpolate, upload to deck.gl, draw. The page's socket stays connected but is
// subscribed to nothing, so no real data interferes. Every worker is on screen (the whole
// city at 1920×1080), the worst case for drawing.
//
//   node bench/wall-perf.mjs [--workers 20000] [--minutes 30] [--path /wall] [--out result.json]
//
// Needs GRIDWALL_URL, GRIDWALL_E2E_USER and GRIDWALL_E2E_PASSWORD like the tests. Prints a
// Markdown table of the samples and writes them as JSON.

import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';

import { SERVER_URL, login, openBrowser, waitForMapIdle } from '../helpers.mjs';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '20000' },
    minutes: { type: 'string', default: '30' },
    path: { type: 'string', default: '/wall' },
    out: { type: 'string', default: 'wall-perf.json' },
    width: { type: 'string', default: '1920' },
    height: { type: 'string', default: '1080' },
  },
});
const WORKERS = Number(args.workers);
const MINUTES = Number(args.minutes);
const viewport = { width: Number(args.width), height: Number(args.height) };

const browser = await openBrowser({ viewport });
const { page } = browser;
const cdp = await page.context().newCDPSession(page);

async function heapMb() {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return usedSize / 2 ** 20;
}

try {
  await page.goto(new URL(args.path, SERVER_URL).href, { waitUntil: 'load' });
  await login(page);
  await waitForMapIdle(page);
  await page.waitForFunction(() => window.__gridwallLive?.client.connection === 'live', null, {
    timeout: 30_000,
  });

  // Quiet the real feed, then start the synthetic one and the frame recorder in the page.
  await page.evaluate(
    ({ workers }) => {
      const { client } = window.__gridwallLive;
      const map = window.__gridwallMap;
      // Nantong's extent: spread the workers over it and show all of it.
      const [w, s, e, n] = [120.2, 31.7, 121.9, 32.7];
      map.fitBounds(
        [
          [w, s],
          [e, n],
        ],
        { animate: false, padding: 20 },
      );
      // Subscribe to nothing, and keep it so: the view would re-subscribe when the map moves.
      client.subscribe({ ...client.current, layers: [] });
      client.subscribe = () => undefined;
      let seed = 42;
      const rand = () => {
        seed = (seed * 1664525 + 1013904223) >>> 0;
        return seed / 2 ** 32;
      };
      const pos = new Float64Array(workers * 2);
      const resources = [];
      const now = new Date().toISOString();
      for (let i = 0; i < workers; i += 1) {
        pos[i * 2] = w + rand() * (e - w);
        pos[i * 2 + 1] = s + rand() * (n - s);
        resources.push({
          id: 1_000_000 + i,
          position: [pos[i * 2], pos[i * 2 + 1]],
          at: now,
          status: i % 23 === 0 ? ['on_duty', 'busy'] : ['on_duty'],
          grid: null,
          speed_mps: 1.2,
          heading_deg: 0,
          accuracy_m: 5,
          battery_pct: 80,
          kind: i % 40 === 0 ? 'vehicle' : 'worker',
          name: `W${i}`,
          plate: null,
        });
      }
      // Wait for the empty snapshot of the quieting subscribe before ours, or it would wipe it.
      const start = () => {
        client.apply(JSON.parse(JSON.stringify({ type: 'snapshot', reason: 'subscribe', resources })));
        const perDelta = Math.ceil(workers / 50); // each worker every 5 s at 10 deltas/s
        let next = 0;
        const stats = (window.__perf = {
          frames: [],
          applyMs: [],
          deltas: 0,
        });
        window.__perfTimer = setInterval(() => {
          const at = new Date().toISOString();
          const moved = [];
          for (let k = 0; k < perDelta; k += 1) {
            const i = next;
            next = (next + 1) % workers;
            pos[i * 2] += (rand() - 0.5) * 0.0004;
            pos[i * 2 + 1] += (rand() - 0.5) * 0.0004;
            moved.push({
              id: 1_000_000 + i,
              position: [pos[i * 2], pos[i * 2 + 1]],
              at,
              status: ['on_duty'],
              grid: null,
              speed_mps: 1.2,
              heading_deg: 90,
              accuracy_m: 5,
              battery_pct: 80,
            });
          }
          const text = JSON.stringify({ type: 'delta', hierarchy_version: 1, moved, entered: [], left: [], removed: [] });
          const t0 = performance.now();
          client.apply(JSON.parse(text));
          stats.applyMs.push(performance.now() - t0);
          stats.deltas += 1;
        }, 100);
        let last = performance.now();
        const tick = (t) => {
          stats.frames.push(t - last);
          last = t;
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      };
      setTimeout(start, 1500);
    },
    { workers: WORKERS },
  );
  await page.waitForFunction(() => window.__perf !== undefined, null, { timeout: 30_000 });

  const samples = [];
  const t0 = Date.now();
  const sampleAt = [0.5, 1, 2, 5, 10, 15, 20, 25, 30, 45, 60].filter((m) => m <= MINUTES);
  if (!sampleAt.includes(MINUTES)) sampleAt.push(MINUTES);
  for (const minute of sampleAt) {
    const wait = t0 + minute * 60_000 - Date.now();
    if (wait > 0) await page.waitForTimeout(wait);
    // Frames and apply times of the last 20 s (the arrays are emptied at each sample).
    await page.evaluate(() => {
      window.__perf.frames.length = 0;
      window.__perf.applyMs.length = 0;
    });
    await page.waitForTimeout(20_000);
    const window20 = await page.evaluate(() => {
      const f = [...window.__perf.frames].sort((a, b) => a - b);
      const a = [...window.__perf.applyMs].sort((x, y) => x - y);
      const q = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : NaN);
      const sum = f.reduce((s, x) => s + x, 0);
      return {
        frames: f.length,
        fps: f.length / (sum / 1000),
        frameP50: q(f, 0.5),
        frameP95: q(f, 0.95),
        frameP99: q(f, 0.99),
        applyP50: q(a, 0.5),
        applyP99: q(a, 0.99),
        resources: window.__gridwallLive.client.resources.size,
        drawn: window.__gridwallLive.overlay.frames,
      };
    });
    const heap = await heapMb();
    const sample = { minute, ...window20, heapMb: heap };
    samples.push(sample);
    console.log(JSON.stringify(sample));
  }

  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
  const chromium = browser.context.browser()?.version() ?? 'Chromium';
  await writeFile(args.out, JSON.stringify({ workers: WORKERS, viewport, machine, chromium, samples }, null, 2));
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  console.log(`\n${WORKERS} workers, ${viewport.width}×${viewport.height}, ${machine}\n`);
  console.log('| minute | fps | frame p50 / p95 / p99 (ms) | delta apply p50 / p99 (ms) | JS heap after GC (MB) |');
  console.log('|---:|---:|---|---|---:|');
  for (const s of samples) {
    console.log(
      `| ${s.minute} | ${f(s.fps)} | ${f(s.frameP50)} / ${f(s.frameP95)} / ${f(s.frameP99)} | ${f(s.applyP50, 2)} / ${f(s.applyP99, 2)} | ${f(s.heapMb)} |`,
    );
  }
} finally {
  await browser.close();
}
