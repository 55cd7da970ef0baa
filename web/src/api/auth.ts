// The account API (`/api/auth/*`): sign in, who is signed in, sign out, change the password.
// Everything rides on the HttpOnly session cookie the server sets at sign-in; the page never
// reads or stores the token. These calls answer 401 as part of their contract (wrong
// password, no session yet), so they do not report it as a session that has ended.

import { ApiError, INVALID_ANSWER, NETWORK } from './error';
import { isRecord, request, seconds, type Method } from './request';

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

/** What a failed account call means to the sign-in screen and the password dialog. */
export type AuthFailure =
  /** Wrong user name or password (sign-in), or wrong current password (password change). */
  | 'invalid_credentials'
  /** Throttled; the error's `retryAfterS` says for how long. */
  | 'too_many_attempts'
  /** No valid session (expired, revoked or signed out). */
  | 'unauthorized'
  /** The new password is refused as too weak; `minPasswordLength` if the server says it. */
  | 'weak_password'
  /** The request did not reach the server or no answer came back. */
  | 'network'
  /** Any other answer: 5xx, an unexpected status or a body that is not what the contract says. */
  | 'server';

export function authFailure(err: ApiError): AuthFailure {
  if (err.code === NETWORK) return 'network';
  if (err.status === 429 || err.code === 'too_many_attempts') return 'too_many_attempts';
  if (err.status === 401) return err.code === 'invalid_credentials' ? 'invalid_credentials' : 'unauthorized';
  if (err.code === 'weak_password') return 'weak_password';
  return 'server';
}

/** The shortest password the server accepts, when a `weak_password` refusal says it. */
export function minPasswordLength(err: ApiError): number | undefined {
  return seconds(err.details['min_length']);
}

/** The server's minimum password length (issue 3); the server checks it too. */
export const MIN_PASSWORD_LENGTH = 10;

function invalid(message: string): ApiError {
  return new ApiError(0, INVALID_ANSWER, message);
}

function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
  return request<T>(method, path, { report401: false, ...(body === undefined ? {} : { body }) });
}

function parseScope(value: unknown): Scope | null {
  if (value === null || value === undefined) return null;
  if (!isRecord(value)) throw invalid('"scope" is not an object');
  const { code, name, level } = value;
  if (typeof code !== 'string' || typeof name !== 'string' || typeof level !== 'number') {
    throw invalid('"scope" lacks code, name or level');
  }
  return { code, name, level };
}

/** Checks the `user` object of the login and me answers. */
export function parseUser(value: unknown): User {
  if (!isRecord(value)) throw invalid('"user" is not an object');
  const { id, username, display_name: displayName, role } = value;
  if (typeof id !== 'number' || typeof username !== 'string') throw invalid('"user" lacks id or username');
  if (!ROLES.includes(role as Role)) throw invalid(`unknown role ${String(role)}`);
  return {
    id,
    username,
    display_name: typeof displayName === 'string' && displayName !== '' ? displayName : username,
    role: role as Role,
    scope: parseScope(value['scope']),
  };
}

function sessionOf(user: unknown, session: Record<string, unknown>): Session {
  const idle = seconds(session['idle_timeout_s']);
  const expires = session['expires_at'];
  return {
    user: parseUser(user),
    expires_at: typeof expires === 'string' ? expires : '',
    ...(idle === undefined ? {} : { idle_timeout_s: idle }),
  };
}

/** `POST /api/auth/login` in cookie mode: the server sets the HttpOnly session cookie and sends no token, so no script on the page ever holds it. */
export async function login(username: string, password: string): Promise<Session> {
  const doc = await call<unknown>('POST', '/api/auth/login', { username, password, mode: 'cookie' });
  if (!isRecord(doc)) throw invalid('the login answer is not an object');
  return sessionOf(doc['user'], doc);
}

/** `GET /api/auth/me`: the current session, or `undefined` when there is none (401). */
export async function currentSession(): Promise<Session | undefined> {
  let doc: unknown;
  try {
    doc = await call<unknown>('GET', '/api/auth/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    throw err;
  }
  if (!isRecord(doc)) throw invalid('the me answer is not an object');
  return sessionOf(doc['user'], isRecord(doc['session']) ? doc['session'] : {});
}

/** `POST /api/auth/logout`. A session that has already ended counts as signed out. */
export async function logout(): Promise<void> {
  try {
    await call<unknown>('POST', '/api/auth/logout');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    throw err;
  }
}

/**
 * `POST /api/auth/password`. On success the server has ended every session of the user,
 * this one included, so the caller must sign in again.
 */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await call<unknown>('POST', '/api/auth/password', {
    current_password: currentPassword,
    new_password: newPassword,
  });
}
