// What the leader view does: go to a unit (its children's outlines, KPIs, bounds), load the
// figures and the density for the window, colour the children, draw the extra layers, and
// drill down on a click. The panels only render; the state changes here.

import type { Layer } from '@deck.gl/core';
import type { Map as MapLibreMap, MapMouseEvent } from 'maplibre-gl';

import { errorText, getCoverage, getDensity, getKpi, getUnit, isAbort, listUnits, type UnitFeature } from '../api';
import { t } from '../i18n';
import type { LiveOverlay } from '../live/overlay';
import { bboxOf } from '../map/bounds';
import { isLevel, Level } from '../map/levels';
import type { Choropleth } from './choropleth';
import { densityResolution, metricValue, windowOf } from './format';
import type { KpiPanel } from './kpi-panel';
import type { LegendPanel } from './legend-panel';
import { counted, currentUnit, type LeaderState, type UnitRef } from './state';
import type { TrackPlayer } from './track-player';

const SIMPLIFY_M: Record<number, number> = { 0: 200, 1: 60, 2: 20, 3: 5 };

type HexModule = typeof import('./hexes');
let hexModule: Promise<HexModule> | undefined;
/** The H3 layers' chunk, loaded on first use. */
function hexes(): Promise<HexModule> {
  hexModule ??= import('./hexes');
  return hexModule;
}

export interface LeaderParts {
  state: LeaderState;
  map: MapLibreMap;
  overlay: LiveOverlay;
  choropleth: Choropleth;
  showError: (message: string) => void;
}

export interface LeaderPanels {
  kpi: KpiPanel;
  legend: LegendPanel;
  player: TrackPlayer;
}

export class LeaderController {
  panels: LeaderPanels | undefined;
  disposed = false;
  private unitAbort = new AbortController();
  private densityAbort = new AbortController();

  constructor(private readonly parts: LeaderParts) {}

  private get state(): LeaderState {
    return this.parts.state;
  }

  /** Every panel, in the current language. */
  renderAll(): void {
    this.panels?.kpi.render();
    this.panels?.legend.render();
    this.panels?.player.render();
  }

  drawLayers(): void {
    if (this.disposed) return;
    const { layers, densityOn } = this.state;
    const out: Layer[] = [];
    // The density below a grid's coverage cells, so both stay readable.
    if (layers.density && densityOn) out.push(layers.density);
    if (layers.coverage) out.push(layers.coverage);
    out.push(...(this.panels?.player.layers() ?? []));
    this.parts.overlay.setExtraLayers(out);
  }

  readonly fail = (err: unknown): void => {
    if (this.disposed || isAbort(err)) return;
    console.error('Gridwall leader:', err);
    this.parts.showError(t('leader.error', { reason: errorText(err) }));
  };

  /** Colours the children by the metric from the KPIs loaded. */
  applyChoropleth(): void {
    const { state } = this;
    const units = (state.report?.children ?? []).filter((k) => isLevel(k.level));
    state.coloured = {};
    const entries = units.map((k) => {
      const value = metricValue(state.metric, k);
      state.coloured[k.code] = value;
      return { code: k.code, level: k.level as Level, value };
    });
    state.lastMax = this.parts.choropleth.show(state.metric, entries);
    this.panels?.legend.render();
  }

  /** KPIs (and for a grid its coverage) of the current unit and window. */
  private async loadFigures(signal: AbortSignal): Promise<void> {
    const { state } = this;
    const u = currentUnit(state);
    if (!u) return;
    const [r, c] = await Promise.all([
      counted(state, getKpi({ unit: u.code, ...state.win, children: true }, signal)),
      u.level === Level.Grid ? counted(state, getCoverage(u.code, state.win, signal)) : Promise.resolve(undefined),
    ]);
    if (signal.aborted) return;
    state.report = r;
    state.coverage = c;
    this.applyChoropleth();
    this.panels?.kpi.renderKpi();
    this.panels?.kpi.renderCoverage();
    if (c?.cells) {
      const { coverageLayer } = await counted(state, hexes());
      if (signal.aborted) return;
      state.layers.coverage = coverageLayer(c.cells.visited, c.cells.unvisited);
    } else {
      delete state.layers.coverage;
    }
    this.drawLayers();
  }

  /** Case density of the viewport at a resolution for the zoom (or none when switched off). */
  async loadDensity(): Promise<void> {
    const { state, parts } = this;
    this.densityAbort.abort();
    this.densityAbort = new AbortController();
    const signal = this.densityAbort.signal;
    if (!state.densityOn) {
      this.drawLayers();
      return;
    }
    const res = densityResolution(parts.map.getZoom());
    const b = parts.map.getBounds();
    try {
      const [d, mod] = await Promise.all([
        counted(state, getDensity(res, state.win, [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], signal)),
        counted(state, hexes()),
      ]);
      if (signal.aborted) return;
      state.density = d;
      state.layers.density = mod.densityLayer(d.cells);
      this.drawLayers();
      this.panels?.legend.render();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Moves to a unit (the last of `next`): its children, KPIs, bounds. */
  async goTo(next: UnitRef[]): Promise<void> {
    const { state, parts } = this;
    this.unitAbort.abort();
    this.unitAbort = new AbortController();
    const signal = this.unitAbort.signal;
    state.path = next;
    state.report = undefined;
    state.coverage = undefined;
    delete state.layers.coverage;
    parts.choropleth.clear();
    this.renderAll();
    this.drawLayers();
    const u = currentUnit(state);
    if (!u) return;
    try {
      const outline: Promise<UnitFeature[]> =
        u.level === Level.Grid
          ? counted(state, getUnit(u.code, signal)).then((f) => [f])
          : counted(state, listUnits({ parent: u.code, simplify: SIMPLIFY_M[u.level] ?? 5 }, signal));
      const [features] = await Promise.all([outline, this.loadFigures(signal)]);
      if (signal.aborted) return;
      const bounds = bboxOf(...features.map((f) => f.geometry));
      if (bounds) {
        parts.map.fitBounds(bounds, { padding: { top: 90, bottom: 60, left: 400, right: 360 }, duration: 600 });
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** The window changed or the figures are due again: KPIs, density and track for it. */
  reloadWindow(): void {
    const { state } = this;
    state.win = windowOf(state.windowKey);
    this.renderAll();
    this.unitAbort.abort();
    this.unitAbort = new AbortController();
    void this.loadFigures(this.unitAbort.signal).catch(this.fail);
    void this.loadDensity();
    this.panels?.player.reload();
  }

  /** Goes to any unit of the territory by code (the path from the server). */
  async goCode(code: string): Promise<void> {
    const f = await getUnit(code);
    const fullPath = (f.properties.path ?? []).filter((p) => isLevel(p.level)) as UnitRef[];
    const rootIndex = fullPath.findIndex((p) => p.code === this.state.path[0]?.code);
    await this.goTo(rootIndex >= 0 ? fullPath.slice(rootIndex) : fullPath);
  }

  /** The view's first unit: the user's territory, else the single city or county. */
  async start(scope: { code: string; name: string; level: number } | null): Promise<void> {
    let root: UnitRef | undefined;
    if (scope && isLevel(scope.level)) {
      root = { code: scope.code, name: scope.name, level: scope.level };
    } else {
      for (const level of [Level.City, Level.County]) {
        const units = await counted(this.state, listUnits({ level, simplify: 500 }));
        const first = units[0]?.properties;
        if (units.length === 1 && first && isLevel(first.level)) {
          root = { code: first.code, name: first.name, level: first.level };
          break;
        }
      }
    }
    if (!root) {
      this.parts.showError(t('leader.noroot'));
      return;
    }
    await this.goTo([root]);
    void this.loadDensity();
  }

  /** The coloured child under the pointer, if any. */
  private childAt(e: MapMouseEvent): { code: string; properties: Record<string, unknown> } | undefined {
    const { map, choropleth } = this.parts;
    const layersNow = choropleth.layerIds().filter((id) => map.getLayer(id));
    const hit = map
      .queryRenderedFeatures(e.point, { layers: layersNow })
      .find((f) => typeof f.properties['code'] === 'string' && f.properties['code'] in this.state.coloured);
    return hit ? { code: hit.properties['code'] as string, properties: hit.properties } : undefined;
  }

  /** A click on a coloured child drills down to it. */
  readonly onClick = (e: MapMouseEvent): void => {
    const u = currentUnit(this.state);
    if (!u || u.level === Level.Grid) return;
    const hit = this.childAt(e);
    const level = hit?.properties['level'];
    if (!hit || !isLevel(level)) return;
    const name = typeof hit.properties['name'] === 'string' ? hit.properties['name'] : hit.code;
    void this.goTo([...this.state.path, { code: hit.code, name, level }]);
  };

  readonly onMove = (e: MapMouseEvent): void => {
    this.parts.map.getCanvasContainer().classList.toggle('is-over-unit', this.childAt(e) !== undefined);
  };

  dispose(): void {
    this.disposed = true;
    this.unitAbort.abort();
    this.densityAbort.abort();
  }
}
