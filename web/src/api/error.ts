// The one error of the API client. The server answers every refusal as
// `{"error": {"code", "message", "details"}}`; an `ApiError` carries those with the HTTP
// status. What the server did not say is filled in by one rule:
//   - the request never got an answer (offline, refused, reset): status 0, code `network`;
//   - an error answer without that body (a proxy's 502, …): code `http_<status>`, message
//     `HTTP <status>`;
//   - a success answer that is not what the contract says: code `invalid_answer`.

/** The request did not reach the server or no answer came back. */
export const NETWORK = 'network';
/** A 2xx answer whose body is not the JSON the contract promises. */
export const INVALID_ANSWER = 'invalid_answer';

export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    /** The HTTP status; 0 when there was no answer (or no HTTP status applies). */
    readonly status: number,
    /** The server's error code (`invalid_credentials`, `version_conflict`, …) or one of the above. */
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Seconds to wait before trying again (`details.retry_after_s` or `Retry-After`), if said. */
    readonly retryAfterS: number | undefined = undefined,
  ) {
    super(message);
  }
}

/** Any failure as an `ApiError`: a thrown non-API error keeps its message under `code`. */
export function asApiError(err: unknown, code = 'client'): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(0, code, err instanceof Error ? err.message : String(err));
}

/** One line for a failure, the same in every view: `HTTP 409 · code: message`. */
export function errorText(err: unknown): string {
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
  return `${err.status ? `HTTP ${err.status} · ` : ''}${err.code}: ${err.message}`;
}

/** Whether a failure is the abort of a request its caller no longer wants. */
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}
