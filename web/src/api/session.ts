// Noticing that the session has ended (expired, revoked, signed out elsewhere). Every data
// request of `request.ts` reports a 401 here, the map reports its tile errors here and the
// live socket its 4401 close, so all of them reach the one handler the page installs, which
// returns to the sign-in screen.

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

/** Whether an error (MapLibre's `AJAXError` for a tile or source) is an HTTP 401. */
export function isUnauthorizedError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 401;
}
