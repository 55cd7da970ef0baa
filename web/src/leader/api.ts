// The leader view's reads of the server: KPIs of a unit and its children (`/api/kpi`), the
// children's outlines (`/api/units?parent=`), case density per H3 cell (`/api/density`), a
// grid's visited and unvisited cells (`/api/coverage?cells=true`), worker search and a
// resource's track. Shapes follow server/src/http/{coverage,units,workers,positions}.rs.

import { apiFetch } from '../auth/session';

/** The KPIs of one unit and window (`Kpi` in server/src/http/coverage.rs). */
export interface Kpi {
  code: string;
  name: string;
  level: number;
  cases_by_status: Record<string, number>;
  opened: number;
  resolved: number;
  closed: number;
  overdue_now: number;
  resolution_rate: number | null;
  on_time_rate: number | null;
  median_dispatch_s: number | null;
  median_resolve_s: number | null;
  workers_on_duty: number;
  workers_online: number;
  coverage: number | null;
}

export interface KpiReport {
  from: string;
  to: string;
  unit: Kpi;
  children: Kpi[];
}

/** A unit as `/api/units` lists it (GeoJSON properties, geometry in lng/lat). */
export interface UnitFeature {
  type: 'Feature';
  geometry: { type: string; coordinates: unknown } | null;
  properties: { code: string; name: string; level: number; parent: string | null; label?: [number, number] };
}

export interface DensityReport {
  layer: string;
  res: number;
  from: string;
  to: string;
  total: number;
  cells: { cell: string; count: number }[];
}

export interface CoverageReport {
  code: string;
  name: string;
  level: number;
  coverage: number | null;
  visited_cells: number;
  total_cells: number;
  res: number;
  from: string;
  to: string;
  cells?: { visited: string[]; unvisited: string[] };
}

export interface WorkerHit {
  id: number;
  name: string;
  grid: { code: string; name: string };
  on_duty: boolean;
}

/** A track: one vertex per fix, times in ms since the epoch, positions [lng, lat]. */
export interface Track {
  id: number;
  name: string;
  path: [number, number][];
  times: number[];
}

/** A window [from, to) as RFC 3339 strings. */
export interface Window {
  from: string;
  to: string;
}

export class LeaderApiError extends Error {
  override name = 'LeaderApiError';
  constructor(
    readonly path: string,
    readonly status: number,
    detail: string,
  ) {
    super(`${path}: HTTP ${status} ${detail}`);
  }
}

async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await apiFetch(path, signal ? { signal } : {});
  if (!response.ok) {
    let detail = '';
    try {
      const body = (await response.json()) as { error?: { message?: string } };
      detail = body.error?.message ?? '';
    } catch {
      // no JSON body: the status says enough
    }
    throw new LeaderApiError(path, response.status, detail);
  }
  return (await response.json()) as T;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return q.toString();
}

export function fetchKpi(unit: string, w: Window, signal?: AbortSignal): Promise<KpiReport> {
  return getJson(`/api/kpi?${query({ unit, from: w.from, to: w.to, children: true })}`, signal);
}

/** The children of `parent` (simplified outlines), or the top-level units when no parent. */
export async function fetchChildren(parent: string, simplifyM: number, signal?: AbortSignal): Promise<UnitFeature[]> {
  const fc = await getJson<{ features: UnitFeature[] }>(
    `/api/units?${query({ parent, simplify: simplifyM })}`,
    signal,
  );
  return fc.features;
}

/** The units of one level (for an unscoped user: the roots of the hierarchy). */
export async function fetchLevel(level: number, signal?: AbortSignal): Promise<UnitFeature[]> {
  const fc = await getJson<{ features: UnitFeature[] }>(
    `/api/units?${query({ level, simplify: 500 })}`,
    signal,
  );
  return fc.features;
}

/** One unit with its full outline. */
export function fetchUnit(code: string, signal?: AbortSignal): Promise<UnitFeature> {
  return getJson(`/api/units/${encodeURIComponent(code)}`, signal);
}

export function fetchDensity(
  res: number,
  w: Window,
  bbox: [number, number, number, number],
  signal?: AbortSignal,
): Promise<DensityReport> {
  const b = bbox.map((v) => v.toFixed(5)).join(',');
  return getJson(`/api/density?${query({ layer: 'cases', res, from: w.from, to: w.to, bbox: b })}`, signal);
}

export function fetchCoverage(grid: string, w: Window, signal?: AbortSignal): Promise<CoverageReport> {
  return getJson(`/api/coverage?${query({ unit: grid, from: w.from, to: w.to, res: 11, cells: true })}`, signal);
}

export async function searchWorkers(q: string, signal?: AbortSignal): Promise<WorkerHit[]> {
  const list = await getJson<{ workers: WorkerHit[] }>(`/api/workers?${query({ q, limit: 12 })}`, signal);
  return list.workers;
}

export async function fetchTrack(id: number, w: Window, signal?: AbortSignal): Promise<Track> {
  const f = await getJson<{
    geometry: { type: string; coordinates: unknown } | null;
    properties: { name: string; times: string[] };
  }>(`/api/resources/${id}/track?${query({ from: w.from, to: w.to })}`, signal);
  const times = f.properties.times.map((t) => Date.parse(t));
  let path: [number, number][] = [];
  if (f.geometry?.type === 'LineString') path = f.geometry.coordinates as [number, number][];
  else if (f.geometry?.type === 'Point') path = [f.geometry.coordinates as [number, number]];
  return { id, name: f.properties.name, path, times };
}
