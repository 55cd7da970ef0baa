// The worker API: search by name (`/api/workers?q=`) and a resource's track
// (`/api/resources/{id}/track`). Shapes follow server/src/http/{workers,positions}.rs.

import type { Window } from './kpi';
import { get, query } from './request';

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

export async function searchWorkers(q: string, signal?: AbortSignal): Promise<WorkerHit[]> {
  const list = await get<{ workers: WorkerHit[] }>(`/api/workers?${query({ q, limit: 12 })}`, signal);
  return list.workers;
}

/** The track of a worker or vehicle in a window (a GeoJSON LineString, or a Point for one fix). */
export async function getTrack(id: number, w: Window, signal?: AbortSignal): Promise<Track> {
  const f = await get<{
    geometry: { type: string; coordinates: unknown } | null;
    properties: { name: string; times: string[] };
  }>(`/api/resources/${id}/track?${query({ from: w.from, to: w.to })}`, signal);
  const times = f.properties.times.map((t) => Date.parse(t));
  let path: [number, number][] = [];
  if (f.geometry?.type === 'LineString') path = f.geometry.coordinates as [number, number][];
  else if (f.geometry?.type === 'Point') path = [f.geometry.coordinates as [number, number]];
  return { id, name: f.properties.name, path, times };
}
