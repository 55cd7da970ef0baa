// The leader view (领导驾驶舱), mounted by the shell at /leader. For the current unit (first
// the user's territory): its children coloured by a metric (cases, resolution rate, patrol
// coverage) from one `/api/kpi?children=true` call; click a child to drill down, breadcrumbs
// to go back up; the unit's KPIs for a window (today, 7 days, 30 days); case density as H3
// hexagons (resolution by zoom); for a grid, its visited and unvisited cells; and a worker's
// track played back with a time slider. H3 layers come from a lazily loaded chunk (hexes.ts).
//
// This file composes the parts: state.ts (what the view holds), controller.ts (what it does),
// kpi-panel.ts, legend-panel.ts and track-player.ts (what it shows), choropleth.ts.

import './leader.css';

import type { CoverageReport, Window } from '../api';
import { onLangChange } from '../i18n';
import { followViewport } from '../live/viewport';
import { isLevel, type Level } from '../map/levels';
import type { MountView } from '../views/types';
import { Choropleth, unitFeature, type Metric } from './choropleth';
import { LeaderController } from './controller';
import { createKpiPanel } from './kpi-panel';
import { createLegendPanel } from './legend-panel';
import { counted, currentUnit, initialState, type LeaderState, type UnitRef } from './state';
import { TrackPlayer } from './track-player';

/** What the browser tests read (`window.__gridwallLeader`). */
export interface LeaderDebug {
  unit: () => UnitRef | undefined;
  path: () => UnitRef[];
  metric: () => Metric;
  window: () => Window;
  /** The metric's value per child as coloured, by code (null: no data). */
  values: () => Record<string, number | null>;
  /** The feature state of a unit polygon on the base map. */
  featureState: (code: string, level: number) => Record<string, unknown>;
  /** The H3 resolution and cells of the drawn density layer. */
  density: () => { res: number; cells: { cell: string; count: number }[] } | undefined;
  coverage: () => CoverageReport | undefined;
  track: () => { id: number; points: number; marker: [number, number] | undefined; t: number } | undefined;
  extraLayerIds: () => string[];
  /** True while requests of the current unit or window are in flight. */
  busy: () => boolean;
  go: (code: string) => Promise<void>;
}

declare global {
  interface Window {
    __gridwallLeader?: LeaderDebug;
  }
}

function debugOf(
  state: LeaderState,
  control: LeaderController,
  player: TrackPlayer,
  featureState: (code: string, level: Level) => Record<string, unknown>,
): LeaderDebug {
  return {
    unit: () => currentUnit(state),
    path: () => [...state.path],
    metric: () => state.metric,
    window: () => state.win,
    values: () => ({ ...state.coloured }),
    featureState: (code, level) => (isLevel(level) ? featureState(code, level) : {}),
    density: () => (state.density ? { res: state.density.res, cells: state.density.cells } : undefined),
    coverage: () => state.coverage,
    track: () => player.debug(),
    extraLayerIds: () => {
      const ids: string[] = [];
      if (state.layers.coverage) ids.push('leader-coverage');
      if (state.layers.density && state.densityOn) ids.push('leader-density');
      if (player.track && player.track.path.length > 0) ids.push('leader-track-path', 'leader-track-marker');
      return ids;
    },
    busy: () => state.inflight > 0,
    go: (code) => control.goCode(code),
  };
}

export const mountLeader: MountView = (ctx) => {
  const { map, overlay } = ctx;
  document.body.classList.add('leader-mode');
  // Workers and vehicles only: cases are summed up in the density layer, and the pulsing
  // alerts (the wall's and the dispatcher's business) would keep a cockpit repainting.
  const unfollow = followViewport(map, ctx.live, ['workers', 'vehicles']);
  overlay.configure({ cases: false, alerts: false });
  const choropleth = new Choropleth(map);
  const state = initialState();
  const control = new LeaderController({ state, map, overlay, choropleth, showError: ctx.showError });

  const kpi = createKpiPanel(state, {
    goTo: (path) => void control.goTo(path),
    pickWindow: (k) => {
      state.windowKey = k;
      control.reloadWindow();
    },
    refresh: () => control.reloadWindow(),
  });
  const legend = createLegendPanel(state, {
    pickMetric: (m) => {
      state.metric = m;
      control.applyChoropleth();
    },
    toggleDensity: (on) => {
      state.densityOn = on;
      void control.loadDensity();
    },
  });
  const player = new TrackPlayer({ state, map, redraw: () => control.drawLayers(), fail: control.fail });
  control.panels = { kpi, legend, player };
  ctx.root.append(kpi.element, legend.element, player.element);

  let moveTimer = 0;
  const onMoveEnd = (): void => {
    window.clearTimeout(moveTimer);
    moveTimer = window.setTimeout(() => void control.loadDensity(), 150);
  };
  map.on('click', control.onClick);
  map.on('mousemove', control.onMove);
  map.on('moveend', onMoveEnd);
  // A cockpit stays current by itself: the figures are read again every minute.
  const autoRefresh = window.setInterval(() => {
    if (!document.hidden) control.reloadWindow();
  }, 60_000);
  const offLang = onLangChange(() => control.renderAll());

  void counted(state, control.start(ctx.session.user.scope)).catch(control.fail);
  window.__gridwallLeader = debugOf(state, control, player, (code, level) =>
    map.getFeatureState(unitFeature(code, level)),
  );

  return () => {
    control.dispose();
    player.dispose();
    window.clearInterval(autoRefresh);
    window.clearTimeout(moveTimer);
    map.off('click', control.onClick);
    map.off('mousemove', control.onMove);
    map.off('moveend', onMoveEnd);
    offLang();
    unfollow();
    choropleth.remove();
    overlay.setExtraLayers([]);
    overlay.configure({ cases: true, alerts: true });
    document.body.classList.remove('leader-mode');
    delete window.__gridwallLeader;
  };
};
