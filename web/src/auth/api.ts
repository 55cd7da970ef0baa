// The server's account API (`/api/auth/*`): sign in, who is signed in, sign out, change the
// password. Everything is same-origin and rides on the HttpOnly session cookie the server sets
// at sign-in; the page never reads or stores the token. Failures come back as one `AuthError`
// whose `kind` tells the UI which message to show.

export type Role = 'admin' | 'leader' | 'dispatcher' | 'operator' | 'worker';

const ROLES: readonly Role[] = ['admin', 'leader', 'dispatcher', 'operator', 'worker'];

/** The unit a user's territory (属地) is rooted at; `level` as in the tiles (0 city … 4 grid). */
export interface Scope {
  code: string;
  name: string;
  level: number;
}

export interface User {
  id: number;
  username: string;
  display_name: string;
  role: Role;
  /** `null` for a user who sees the whole hierarchy (an administrator). */
  scope: Scope | null;
}

/** What `GET /api/auth/me` says about the current session. */
export interface Session {
  user: User;
  /** RFC 3339; the session ends then at the latest. */
  expires_at: string;
  /** The session also ends after this many seconds without a request, if the server says so. */
  idle_timeout_s?: number;
}

export type AuthErrorKind =
  /** Wrong user name or password (sign-in), or wrong current password (password change). */
  | 'invalid_credentials'
  /** Throttled; `retryAfterS` says for how long. */
  | 'too_many_attempts'
  /** No valid session (expired, revoked or signed out). */
  | 'unauthorized'
  /** The new password is refused as too weak; `minLength` if the server says it. */
  | 'weak_password'
  /** The request did not reach the server or no answer came back. */
  | 'network'
  /** Any other answer: 5xx, an unexpected status or a body that is not what the contract says. */
  | 'server';

export class AuthError extends Error {
  override name = 'AuthError';

  constructor(
    readonly kind: AuthErrorKind,
    message: string,
    readonly status: number | undefined = undefined,
    readonly retryAfterS: number | undefined = undefined,
    readonly minLength: number | undefined = undefined,
  ) {
    super(message);
  }
}

/** The server's error body `{"error": {"code", "message", "details"}}`, as far as it is there. */
interface ApiErrorBody {
  code: string | undefined;
  message: string | undefined;
  details: Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readErrorBody(response: Response): Promise<ApiErrorBody> {
  let doc: unknown;
  try {
    doc = await response.json();
  } catch {
    doc = undefined;
  }
  const error = isRecord(doc) && isRecord(doc['error']) ? doc['error'] : {};
  return {
    code: typeof error['code'] === 'string' ? error['code'] : undefined,
    message: typeof error['message'] === 'string' ? error['message'] : undefined,
    details: isRecord(error['details']) ? error['details'] : {},
  };
}

function positiveInteger(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.ceil(n) : undefined;
}

/** Turns a non-2xx answer into an `AuthError`. */
async function errorFrom(response: Response): Promise<AuthError> {
  const body = await readErrorBody(response);
  const message = body.message ?? `HTTP ${response.status}`;
  const { status } = response;
  if (status === 429 || body.code === 'too_many_attempts') {
    const retryAfterS =
      positiveInteger(body.details['retry_after_s']) ??
      positiveInteger(response.headers.get('Retry-After'));
    return new AuthError('too_many_attempts', message, status, retryAfterS);
  }
  if (status === 401) {
    const kind = body.code === 'invalid_credentials' ? 'invalid_credentials' : 'unauthorized';
    return new AuthError(kind, message, status);
  }
  if (body.code === 'weak_password') {
    const minLength = positiveInteger(body.details['min_length']);
    return new AuthError('weak_password', message, status, undefined, minLength);
  }
  return new AuthError('server', message, status);
}

async function request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (err) {
    throw new AuthError('network', err instanceof Error ? err.message : String(err));
  }
}

/** Reads and drops a body we don't need, so the request is complete, not left open. */
async function drain(response: Response): Promise<void> {
  try {
    await response.arrayBuffer();
  } catch {
    // Nothing to do: the answer is already known from the status.
  }
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    throw new AuthError('server', 'the answer is not valid JSON', response.status);
  }
}

function parseScope(value: unknown): Scope | null {
  if (value === null || value === undefined) return null;
  if (!isRecord(value)) throw new AuthError('server', '"scope" is not an object');
  const { code, name, level } = value;
  if (typeof code !== 'string' || typeof name !== 'string' || typeof level !== 'number') {
    throw new AuthError('server', '"scope" lacks code, name or level');
  }
  return { code, name, level };
}

/** Checks the `user` object of the login and me answers. */
export function parseUser(value: unknown): User {
  if (!isRecord(value)) throw new AuthError('server', '"user" is not an object');
  const { id, username, display_name: displayName, role } = value;
  if (typeof id !== 'number' || typeof username !== 'string') {
    throw new AuthError('server', '"user" lacks id or username');
  }
  if (!ROLES.includes(role as Role)) throw new AuthError('server', `unknown role ${String(role)}`);
  return {
    id,
    username,
    display_name: typeof displayName === 'string' && displayName !== '' ? displayName : username,
    role: role as Role,
    scope: parseScope(value['scope']),
  };
}

function expiresAt(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** `POST /api/auth/login` in cookie mode: the server sets the HttpOnly session cookie and sends no token, so no script on the page ever holds it. */
export async function login(username: string, password: string): Promise<Session> {
  const response = await request('POST', '/api/auth/login', { username, password, mode: 'cookie' });
  if (!response.ok) throw await errorFrom(response);
  const doc = await readJson(response);
  if (!isRecord(doc)) throw new AuthError('server', 'the login answer is not an object');
  const idle = positiveInteger(doc['idle_timeout_s']);
  return {
    user: parseUser(doc['user']),
    expires_at: expiresAt(doc['expires_at']),
    ...(idle === undefined ? {} : { idle_timeout_s: idle }),
  };
}

/** `GET /api/auth/me`: the current session, or `undefined` when there is none (401). */
export async function currentSession(): Promise<Session | undefined> {
  const response = await request('GET', '/api/auth/me');
  if (response.status === 401) {
    await drain(response);
    return undefined;
  }
  if (!response.ok) throw await errorFrom(response);
  const doc = await readJson(response);
  if (!isRecord(doc)) throw new AuthError('server', 'the me answer is not an object');
  const session = isRecord(doc['session']) ? doc['session'] : {};
  const idle = positiveInteger(session['idle_timeout_s']);
  return {
    user: parseUser(doc['user']),
    expires_at: expiresAt(session['expires_at']),
    ...(idle === undefined ? {} : { idle_timeout_s: idle }),
  };
}

/** `POST /api/auth/logout`. A session that has already ended counts as signed out. */
export async function logout(): Promise<void> {
  const response = await request('POST', '/api/auth/logout');
  if (response.ok || response.status === 401) {
    await drain(response);
    return;
  }
  throw await errorFrom(response);
}

/**
 * `POST /api/auth/password`. On success the server has ended every session of the user,
 * this one included, so the caller must sign in again.
 */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  const response = await request('POST', '/api/auth/password', {
    current_password: currentPassword,
    new_password: newPassword,
  });
  if (response.ok) {
    await drain(response);
    return;
  }
  throw await errorFrom(response);
}

/** The server's minimum password length (issue 3); the server checks it too. */
export const MIN_PASSWORD_LENGTH = 10;
