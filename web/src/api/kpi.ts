// The figures API: KPIs of a unit and its children (`/api/kpi`), case density per H3 cell
// (`/api/density`) and a grid's patrol coverage (`/api/coverage`). Shapes follow
// server/src/http/coverage.rs.

import { get, query } from './request';

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

/** A window [from, to) as RFC 3339 strings. */
export interface Window {
  from: string;
  to: string;
}

export interface KpiQuery extends Window {
  unit: string;
  /** Also the figures of each child unit. */
  children?: boolean;
  /** `false` leaves the coverage out (the slow part). */
  coverage?: boolean;
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

/** `GET /api/kpi?unit=&from=&to=[&children=true][&coverage=false]`. */
export function getKpi(q: KpiQuery, signal?: AbortSignal): Promise<KpiReport> {
  return get(`/api/kpi?${query({ ...q })}`, signal);
}

/** Cases per H3 cell of resolution `res` in `bbox` ([west, south, east, north], degrees). */
export function getDensity(
  res: number,
  w: Window,
  bbox: [number, number, number, number],
  signal?: AbortSignal,
): Promise<DensityReport> {
  const b = bbox.map((v) => v.toFixed(5)).join(',');
  return get(`/api/density?${query({ layer: 'cases', res, from: w.from, to: w.to, bbox: b })}`, signal);
}

/** A grid's coverage with its visited and unvisited cells (H3 resolution 11). */
export function getCoverage(grid: string, w: Window, signal?: AbortSignal): Promise<CoverageReport> {
  return get(`/api/coverage?${query({ unit: grid, from: w.from, to: w.to, res: 11, cells: true })}`, signal);
}
