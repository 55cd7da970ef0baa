// The core of the API client: every call to the server's JSON API goes through `request`.
// Same-origin, with the session cookie (`credentials: 'same-origin'`; the server checks
// `Sec-Fetch-Site`/`Origin` against cross-site requests, which the browser sets itself),
// `Accept: application/json`, a JSON body with `Content-Type: application/json`, and
// `cache: 'no-store'` (answers depend on the signed-in user). A 401 is reported to the page
// (`session.ts`) unless the caller is the sign-in code itself. Failures are `ApiError`s
// (`error.ts`); an aborted request rejects with the browser's own `AbortError`.

import { ApiError, INVALID_ANSWER, NETWORK } from './error';
import { reportUnauthorized } from './session';

export type Method = 'GET' | 'POST';

export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Default `no-store`; the TileJSON revalidates instead (`no-cache`). */
  cache?: RequestCache;
  /** Whether a 401 means "the session has ended" (default). Sign-in and sign-out say no. */
  report401?: boolean;
}

/** A query string from parameters; `undefined` ones are left out. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return q.toString();
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-negative count of seconds from a number or a numeric string (`Retry-After`). */
export function seconds(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.ceil(n) : undefined;
}

function parse(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/** Turns a non-2xx answer (its body already read) into an `ApiError`. */
function errorOf(response: Response, doc: unknown): ApiError {
  const e = isRecord(doc) && isRecord(doc['error']) ? doc['error'] : {};
  const { status } = response;
  const details = isRecord(e['details']) ? e['details'] : {};
  return new ApiError(
    status,
    typeof e['code'] === 'string' ? e['code'] : `http_${status}`,
    typeof e['message'] === 'string' ? e['message'] : `HTTP ${status}`,
    details,
    seconds(details['retry_after_s']) ?? seconds(response.headers.get('Retry-After')),
  );
}

/** Sends a request and answers the raw `Response` (no status check); network failures are `ApiError`s. */
export async function send(method: Method, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const init: RequestInit = {
    method,
    headers,
    credentials: 'same-origin',
    cache: options.cache ?? 'no-store',
  };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  if (options.signal) init.signal = options.signal;
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new ApiError(0, NETWORK, err instanceof Error ? err.message : String(err));
  }
  if (response.status === 401 && options.report401 !== false) reportUnauthorized();
  return response;
}

/** Reads an answer's body as text; a connection lost half-way is a network failure. */
async function body(response: Response, signal: AbortSignal | undefined): Promise<string> {
  try {
    return await response.text();
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, NETWORK, err instanceof Error ? err.message : String(err));
  }
}

/**
 * One call of the JSON API: the parsed answer (`undefined` for an empty one), or an
 * `ApiError` for any refusal. The answer's shape is the server's contract (server/src/http/),
 * trusted as `T`; callers that must not trust it check it (see `auth.ts`).
 */
export async function request<T>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(method, path, options);
  const text = await body(response, options.signal);
  if (!response.ok) throw errorOf(response, parse(text));
  if (text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, INVALID_ANSWER, 'the answer is not valid JSON');
  }
}

export function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return request<T>('GET', path, { signal });
}

export function post<T>(path: string, body?: unknown): Promise<T> {
  return request<T>('POST', path, body === undefined ? {} : { body });
}
