// Loads and checks the server's TileJSON for the unit tiles (`/tiles/units.json`).
// The server answers with absolute tile URLs; relative ones are resolved against the
// TileJSON's own URL so the map always gets absolute, same-origin templates.

/** [west, south, east, north] in degrees (lng, lat order). */
export type Bounds = [number, number, number, number];

/** The parts of a TileJSON 3.0 document the map uses. */
export interface UnitsTileJson {
  tiles: string[];
  minzoom: number;
  maxzoom: number;
  bounds?: Bounds;
  /** [lng, lat, zoom]. */
  center?: [number, number, number];
}

export class TileJsonError extends Error {
  override name = 'TileJsonError';

  /** `status`: the HTTP status when the server refused the request (401: no session). */
  constructor(
    message: string,
    readonly status: number | undefined = undefined,
  ) {
    super(message);
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function numberTuple(value: unknown, length: number): number[] | undefined {
  if (!Array.isArray(value) || value.length < length) return undefined;
  const numbers = value.slice(0, length);
  return numbers.every(isFiniteNumber) ? numbers : undefined;
}

/** Resolves a relative tile URL template; the URL parser escapes `{z}`, so braces are restored. */
function absoluteTemplate(template: string, baseUrl: string): string {
  if (/^[a-z][a-z\d+.-]*:/i.test(template)) return template;
  return new URL(template, baseUrl).href.replace(/%7B/gi, '{').replace(/%7D/gi, '}');
}

/** Validates a parsed TileJSON document; `baseUrl` resolves relative tile URLs. */
export function parseUnitsTileJson(doc: unknown, baseUrl: string): UnitsTileJson {
  if (typeof doc !== 'object' || doc === null) throw new TileJsonError('not a JSON object');
  const record = doc as Record<string, unknown>;

  const tiles = record['tiles'];
  if (!Array.isArray(tiles) || tiles.length === 0 || !tiles.every((t) => typeof t === 'string')) {
    throw new TileJsonError('"tiles" must be a non-empty array of URL templates');
  }

  const minzoom = isFiniteNumber(record['minzoom']) ? record['minzoom'] : 0;
  const maxzoom = isFiniteNumber(record['maxzoom']) ? record['maxzoom'] : 16;
  const result: UnitsTileJson = {
    tiles: tiles.map((t: string) => absoluteTemplate(t, baseUrl)),
    minzoom,
    maxzoom,
  };

  const bounds = numberTuple(record['bounds'], 4);
  if (bounds) {
    const [w, s, e, n] = bounds as Bounds;
    if (w < e && s < n && s >= -90 && n <= 90) result.bounds = [w, s, e, n];
  }
  const center = numberTuple(record['center'], 2);
  if (center) {
    const zoom = numberTuple(record['center'], 3)?.[2] ?? minzoom;
    result.center = [center[0] ?? 0, center[1] ?? 0, zoom];
  }
  return result;
}

/**
 * Loads and checks the TileJSON at `url`. `fetcher` lets the page route the request through
 * its session handling (a 401 means the session has ended).
 */
export async function fetchUnitsTileJson(
  url: string,
  fetcher: (url: string, init: RequestInit) => Promise<Response> = (u, i) => fetch(u, i),
): Promise<UnitsTileJson> {
  const absolute = new URL(url, window.location.href).href;
  // `no-cache`: the document depends on the signed-in user's territory, so always revalidate.
  const response = await fetcher(absolute, {
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
    cache: 'no-cache',
  });
  if (!response.ok) {
    await response.arrayBuffer().catch(() => undefined);
    throw new TileJsonError(`HTTP ${response.status}`, response.status);
  }
  let doc: unknown;
  try {
    doc = await response.json();
  } catch {
    throw new TileJsonError('not valid JSON');
  }
  return parseUnitsTileJson(doc, absolute);
}
