// What the leader view holds: where it is (the path of units), what it shows (metric, window,
// density on or off) and what it loaded for that (KPIs, coloured values, density, coverage,
// the H3 layers). Changed by the controller, read by the panels when they render.

import type { Layer } from '@deck.gl/core';
import type { Level } from '../map/levels';

import type { CoverageReport, DensityReport, KpiReport, Window } from '../api';
import type { Metric } from './choropleth';
import { windowOf, type WindowKey } from './format';

export interface UnitRef {
  code: string;
  name: string;
  level: Level;
}

export interface LeaderState {
  /** From the view's root unit down to the current unit. */
  path: UnitRef[];
  metric: Metric;
  windowKey: WindowKey;
  win: Window;
  report: KpiReport | undefined;
  /** The metric's value per child as coloured, by code (null: no data). */
  coloured: Record<string, number | null>;
  /** The top of the colour ramp (the largest child for cases, 1 for rates). */
  lastMax: number;
  density: DensityReport | undefined;
  densityOn: boolean;
  coverage: CoverageReport | undefined;
  layers: { density?: Layer; coverage?: Layer };
  /** Requests of the current unit or window in flight. */
  inflight: number;
}

export function initialState(): LeaderState {
  return {
    path: [],
    metric: 'cases',
    windowKey: '7d',
    win: windowOf('7d'),
    report: undefined,
    coloured: {},
    lastMax: 1,
    density: undefined,
    densityOn: true,
    coverage: undefined,
    layers: {},
    inflight: 0,
  };
}

export const currentUnit = (s: LeaderState): UnitRef | undefined => s.path[s.path.length - 1];

/** Counts a request as in flight while it runs (`busy()` for the browser tests). */
export async function counted<T>(s: LeaderState, p: Promise<T>): Promise<T> {
  s.inflight += 1;
  try {
    return await p;
  } finally {
    s.inflight -= 1;
  }
}
