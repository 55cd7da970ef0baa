// Checks the server's TileJSON for the unit tiles (`/tiles/units.json`, loaded by
// `api/tiles.ts`). The server answers with absolute tile URLs; relative ones are resolved
// against the TileJSON's own URL so the map always gets absolute, same-origin templates.

import { ApiError, INVALID_ANSWER } from '../api/error';

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

/** A TileJSON document that is not what the map needs. */
function invalid(message: string): ApiError {
  return new ApiError(0, INVALID_ANSWER, message);
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
  if (typeof doc !== 'object' || doc === null) throw invalid('not a JSON object');
  const record = doc as Record<string, unknown>;

  const tiles = record['tiles'];
  if (!Array.isArray(tiles) || tiles.length === 0 || !tiles.every((t) => typeof t === 'string')) {
    throw invalid('"tiles" must be a non-empty array of URL templates');
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
