// Noticing that the session has ended (expired, revoked, signed out elsewhere). Data requests
// go through `apiFetch`, and the map reports its tile errors here, so a 401 from any of them
// reaches the one handler the page installs, which returns to the sign-in screen.

type Handler = () => void;

let handler: Handler | undefined;

/** Installs what happens when a request is refused for want of a session. */
export function onUnauthorized(next: Handler): void {
  handler = next;
}

/** Tells the page that a request was answered 401. */
export function reportUnauthorized(): void {
  handler?.();
}

/** `fetch` for the page's own API and tile routes: same-origin cookies, 401 reported. */
export async function apiFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(input, { credentials: 'same-origin', ...init });
  if (response.status === 401) reportUnauthorized();
  return response;
}

/** Whether an error (MapLibre's `AJAXError` for a tile or source) is an HTTP 401. */
export function isUnauthorizedError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 401;
}
