// The server's HTTP API for the browser tests' own set-up: sign in for a bearer token, place a
// point, create grid workers with a device each, post their positions, create cases. Tests
// use it to make the data they assert on, through the same API a phone or a console uses.

import { SERVER_URL, credentials } from './helpers.mjs';

/** An error answer of the API, with its status and JSON error body. */
export class ApiError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path} answered ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/** Calls the API with a bearer token; resolves to the JSON answer (undefined when empty). */
export async function api(token, method, path, body, headers = {}) {
  const response = await fetch(new URL(path, SERVER_URL), {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!response.ok) throw new ApiError(method, path, response.status, parsed);
  return parsed;
}

/** Signs in over the API (default: the tests' account) and returns the session token. */
export async function apiLogin(account = credentials()) {
  const answer = await api(undefined, 'POST', '/api/auth/login', account);
  if (typeof answer?.token !== 'string') throw new Error('login answered no token');
  return answer.token;
}

/** The grid, village, township and county codes at a position. */
export async function locate(token, [lng, lat]) {
  return api(token, 'GET', `/api/locate?lng=${lng}&lat=${lat}`);
}

/**
 * Creates an on-duty grid worker homed in the grid at `position`, with one device; returns
 * `{ id, name, grid, deviceToken }`. Names are unique per call (`tag` and a random suffix).
 */
export async function createWorker(token, position, { tag = 'e2e', skills = [] } = {}) {
  const place = await locate(token, position);
  const name = `${tag}-${Math.random().toString(36).slice(2, 8)}`;
  const worker = await api(token, 'POST', '/api/workers', {
    name,
    grid: place.grid.code,
    on_duty: true,
    skills,
  });
  const issued = await api(token, 'POST', `/api/workers/${worker.id}/devices`, {
    label: `${name} phone`,
  });
  return { id: worker.id, name, grid: place.grid.code, place, deviceToken: issued.token };
}

/** Posts one position of a resource with its device token (`at` defaults to now). */
export async function postPosition(deviceToken, resource, [lng, lat], extra = {}) {
  const answer = await api(deviceToken, 'POST', '/api/positions', {
    positions: [{ resource, lng, lat, at: new Date().toISOString(), accuracy_m: 5, ...extra }],
  });
  if (answer?.accepted !== 1) throw new Error(`position not accepted: ${JSON.stringify(answer)}`);
  return answer.results[0];
}

/** Registers a case at `position` (see docs/cases.md); returns the case. */
export async function createCase(token, [lng, lat], fields = {}) {
  return api(token, 'POST', '/api/cases', {
    title: '楼道堆放杂物',
    description: 'e2e',
    category: 'safety_hazard',
    source: 'hotline_12345',
    severity: 2,
    lng,
    lat,
    ...fields,
  });
}

/** Acknowledges (default) or resolves every live alert of `kind`; returns how many. */
export async function settleAlerts(token, kind, action = 'acknowledge') {
  const list = await api(token, 'GET', `/api/alerts?kind=${kind}&status=open&limit=1000`);
  for (const alert of list.alerts) await api(token, 'POST', `/api/alerts/${alert.id}/${action}`, {});
  return list.alerts.length;
}

/** The accounts `gridwall demo-accounts` wrote (GRIDWALL_E2E_DEMO_ACCOUNTS), by role. */
export async function demoAccount(role) {
  const { readFile } = await import('node:fs/promises');
  const file = process.env.GRIDWALL_E2E_DEMO_ACCOUNTS;
  if (!file) throw new Error('set GRIDWALL_E2E_DEMO_ACCOUNTS to the demo accounts file');
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (line.startsWith('#') || !line.trim()) continue;
    const [username, password, r] = line.split('\t');
    if (r === role) return { username, password };
  }
  throw new Error(`no demo account with role ${role}`);
}
