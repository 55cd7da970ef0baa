// The leader view's windows, metrics and number formats (pure, apart from the UI language).

import type { Kpi, Window } from '../api';
import { lang, t } from '../i18n';
import type { Metric } from './choropleth';

export type WindowKey = 'today' | '7d' | '30d';
export const WINDOW_KEYS: readonly WindowKey[] = ['today', '7d', '30d'];

export function windowOf(key: WindowKey, now = new Date()): Window {
  const to = now;
  let from: Date;
  if (key === 'today') {
    from = new Date(now);
    from.setHours(0, 0, 0, 0);
  } else {
    from = new Date(now.getTime() - (key === '7d' ? 7 : 30) * 86_400_000);
  }
  return { from: from.toISOString(), to: to.toISOString() };
}

/**
 * The H3 resolution for the density at a zoom: hexagons some 30–60 px across (an H3 edge
 * shrinks by √7 ≈ 2.65 a resolution, a pixel by 2 a zoom level; res 6 suits zoom 10).
 */
export function densityResolution(zoom: number): number {
  return Math.min(11, Math.max(5, Math.round(0.72 * zoom - 1.2)));
}

export function metricValue(metric: Metric, k: Kpi): number | null {
  switch (metric) {
    case 'cases':
      return k.opened;
    case 'resolution':
      return k.resolution_rate;
    case 'coverage':
      return k.coverage;
  }
}

export const pct = (v: number | null | undefined): string =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`;
export const num = (v: number): string => v.toLocaleString(lang());

export function duration(s: number | null): string {
  if (s === null) return '—';
  if (s < 90) return t('leader.unit.s', { n: Math.round(s) });
  if (s < 5400) return t('leader.unit.min', { n: Math.round(s / 60) });
  if (s < 172_800) return t('leader.unit.h', { n: (s / 3600).toFixed(1) });
  return t('leader.unit.d', { n: (s / 86_400).toFixed(1) });
}

export function formatMetric(metric: Metric, v: number | null): string {
  return metric === 'cases' ? (v === null ? '—' : num(v)) : pct(v);
}
