// The units the wall shows: one unit with its path from the root (breadcrumbs) and its
// bounds (the map fits them), the unit a user starts at, and the townships a kiosk tours.
// Everything comes from `/api/units` (api/units.ts), which only answers inside the user's territory.

import { getUnit, listUnits, type PathStep, type Session } from '../api';
import { bboxOf } from '../map/bounds';

export type { PathStep };

export interface WallUnit {
  code: string;
  name: string;
  /** 0 city … 4 grid, as in the tiles. */
  level: number;
  /** From the root down to the unit itself (inclusive). */
  path: PathStep[];
  /** `[west, south, east, north]`, degrees WGS84. */
  bbox: [number, number, number, number];
}

/** `GET /api/units/{code}`: the unit, its path and bounds. */
export async function fetchUnit(code: string): Promise<WallUnit> {
  const doc = (await getUnit(code)) as { geometry?: unknown; properties?: Partial<Record<string, unknown>> };
  const p = doc.properties ?? {};
  const bbox = bboxOf(doc.geometry);
  if (!bbox || typeof p['name'] !== 'string' || typeof p['level'] !== 'number') {
    throw new Error(`unit ${code}: unexpected answer`);
  }
  const path = Array.isArray(p['path']) ? (p['path'] as PathStep[]) : [];
  return { code: String(p['code'] ?? code), name: p['name'], level: p['level'], path, bbox };
}

interface UnitListItem {
  code: string;
  name: string;
  level: number;
}

async function unitList(q: { parent?: string; level: number }): Promise<UnitListItem[]> {
  // Outlines are not needed here: a coarse simplification keeps the answer small.
  const features = (await listUnits({ ...q, simplify: 2000 })) as Array<{ properties?: Record<string, unknown> }>;
  const out: UnitListItem[] = [];
  for (const f of features) {
    const p = f.properties ?? {};
    if (typeof p['code'] === 'string' && typeof p['name'] === 'string' && typeof p['level'] === 'number') {
      out.push({ code: p['code'], name: p['name'], level: p['level'] });
    }
  }
  return out.sort((a, b) => a.code.localeCompare(b.code));
}

/** Where a user starts: the scope unit, or for a user without one the top of the hierarchy. */
export async function startUnitCode(session: Session): Promise<string> {
  if (session.user.scope) return session.user.scope.code;
  const top = await unitList({ level: 0 });
  const first = top[0] ?? (await unitList({ level: 1 }))[0];
  if (!first) throw new Error('no units');
  return first.code;
}

/** The townships (level 2) at or under `unit`, in code order. */
export async function townshipsOf(unit: WallUnit): Promise<UnitListItem[]> {
  if (unit.level === 2) return [{ code: unit.code, name: unit.name, level: 2 }];
  if (unit.level > 2) return [];
  if (unit.level === 1) return unitList({ parent: unit.code, level: 2 });
  return unitList({ level: 2 });
}
