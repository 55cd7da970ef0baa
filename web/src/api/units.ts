// The unit API (`/api/units`): units as GeoJSON features (geometry in lng/lat), listed by
// parent or level, or one unit with its full outline and its path from the root. Only units
// inside the user's territory are answered. Shapes follow server/src/http/units.rs.

import { get, query } from './request';

/** One step of a unit's path from the root down to it. */
export interface PathStep {
  code: string;
  name: string;
  level: number;
}

/** A unit as `/api/units` answers it (GeoJSON properties, geometry in lng/lat). */
export interface UnitFeature {
  type: 'Feature';
  geometry: { type: string; coordinates: unknown } | null;
  properties: {
    code: string;
    name: string;
    level: number;
    parent: string | null;
    label?: [number, number];
    /** From the root down to the unit itself (inclusive); in the answer for one unit. */
    path?: PathStep[];
  };
}

export interface UnitListQuery {
  parent?: string;
  level?: number;
  /** Douglas–Peucker tolerance of the outlines, metres. */
  simplify: number;
}

/** `GET /api/units?parent=&level=&simplify=`: the units that match, as features. */
export async function listUnits(q: UnitListQuery, signal?: AbortSignal): Promise<UnitFeature[]> {
  const fc = await get<{ features?: UnitFeature[] }>(`/api/units?${query({ ...q })}`, signal);
  return fc.features ?? [];
}

/** `GET /api/units/{code}`: one unit with its full outline and its path. */
export function getUnit(code: string, signal?: AbortSignal): Promise<UnitFeature> {
  return get(`/api/units/${encodeURIComponent(code)}`, signal);
}
