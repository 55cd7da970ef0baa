// The leader view (领导驾驶舱), mounted by the shell at /leader. For the current unit (first
// the user's territory): its children coloured by a metric (cases, resolution rate, patrol
// coverage) from one `/api/kpi?children=true` call; click a child to drill down, breadcrumbs
// to go back up; the unit's KPIs for a window (today, 7 days, 30 days); case density as H3
// hexagons (resolution by zoom); for a grid, its visited and unvisited cells; and a worker's
// track played back with a time slider. H3 layers come from a lazily loaded chunk (hexes.ts).

import './leader.css';

import type { Layer } from '@deck.gl/core';
import { PathLayer, ScatterplotLayer } from '@deck.gl/layers';
import type { MapMouseEvent } from 'maplibre-gl';

import { isMessageKey, lang, onLangChange, t, type MessageKey } from '../i18n';
import { followViewport } from '../live/viewport';
import { bboxOf } from '../map/bounds';
import { isLevel, Level } from '../map/levels';
import { el } from '../ui/dom';
import { levelName } from '../ui/legend';
import type { MountView } from '../views/types';
import {
  errorText,
  getCoverage,
  getDensity,
  getKpi,
  getTrack,
  getUnit,
  isAbort,
  listUnits,
  searchWorkers,
  type CoverageReport,
  type DensityReport,
  type Kpi,
  type KpiReport,
  type Track,
  type Window,
} from '../api';
import { Choropleth, METRICS, NO_DATA_COLOR, RAMPS, unitFeature, type Metric } from './choropleth';
import { positionAt, spanOf } from './track';

type WindowKey = 'today' | '7d' | '30d';
const WINDOW_KEYS: readonly WindowKey[] = ['today', '7d', '30d'];

interface UnitRef {
  code: string;
  name: string;
  level: Level;
}

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

type HexModule = typeof import('./hexes');
let hexModule: Promise<HexModule> | undefined;
/** The H3 layers' chunk, loaded on first use. */
function hexes(): Promise<HexModule> {
  hexModule ??= import('./hexes');
  return hexModule;
}

function windowOf(key: WindowKey, now = new Date()): Window {
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

function metricValue(metric: Metric, k: Kpi): number | null {
  switch (metric) {
    case 'cases':
      return k.opened;
    case 'resolution':
      return k.resolution_rate;
    case 'coverage':
      return k.coverage;
  }
}

const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
const num = (v: number): string => v.toLocaleString(lang());

function duration(s: number | null): string {
  if (s === null) return '—';
  if (s < 90) return t('leader.unit.s', { n: Math.round(s) });
  if (s < 5400) return t('leader.unit.min', { n: Math.round(s / 60) });
  if (s < 172_800) return t('leader.unit.h', { n: (s / 3600).toFixed(1) });
  return t('leader.unit.d', { n: (s / 86_400).toFixed(1) });
}

function formatMetric(metric: Metric, v: number | null): string {
  return metric === 'cases' ? (v === null ? '—' : num(v)) : pct(v);
}

const SIMPLIFY_M: Record<number, number> = { 0: 200, 1: 60, 2: 20, 3: 5 };

export const mountLeader: MountView = (ctx) => {
  const { map, overlay } = ctx;
  document.body.classList.add('leader-mode');
  // Workers and vehicles only: cases are summed up in the density layer, and the pulsing
  // alerts (the wall's and the dispatcher's business) would keep a cockpit repainting.
  const unfollow = followViewport(map, ctx.live, ['workers', 'vehicles']);
  overlay.configure({ cases: false, alerts: false });
  const choropleth = new Choropleth(map);

  // State.
  let path: UnitRef[] = [];
  let metric: Metric = 'cases';
  let windowKey: WindowKey = '7d';
  let win = windowOf(windowKey);
  let report: KpiReport | undefined;
  let coloured: Record<string, number | null> = {};
  let density: DensityReport | undefined;
  let densityOn = true;
  let coverage: CoverageReport | undefined;
  let track: Track | undefined;
  let trackT = 0;
  let playing = false;
  let inflight = 0;
  let layers: { density?: Layer; coverage?: Layer } = {};
  let unitAbort = new AbortController();
  let densityAbort = new AbortController();
  let disposed = false;

  const current = (): UnitRef | undefined => path[path.length - 1];

  // --- DOM -------------------------------------------------------------------------------
  const title = el('h2', { className: 'leader__title' });
  const crumbs = el('nav', { className: 'leader__crumbs', attrs: { 'aria-label': 'breadcrumbs' } });
  const windowSeg = el('div', { className: 'leader__seg', attrs: { role: 'group' } });
  const refresh = el('button', { className: 'leader__refresh', attrs: { type: 'button' } });
  const unitHead = el('div', { className: 'leader__unit' });
  const figures = el('dl', { className: 'leader__figures' });
  const statusTitle = el('h3', { className: 'leader__subtitle' });
  const statusList = el('ul', { className: 'leader__status' });
  const coverageBox = el('section', { className: 'leader__coverage' });
  coverageBox.hidden = true;
  const side = el('aside', { className: 'overlay leader-side', attrs: { 'aria-live': 'polite' } }, [
    title,
    crumbs,
    el('div', { className: 'leader__row' }, [windowSeg, refresh]),
    unitHead,
    figures,
    statusTitle,
    statusList,
    coverageBox,
  ]);

  const legendTitle = el('h3', { className: 'leader__subtitle' });
  const metricSeg = el('div', { className: 'leader__seg leader__seg--metric', attrs: { role: 'group' } });
  const ramp = el('div', { className: 'leader__ramp' });
  const rampMin = el('span');
  const rampMax = el('span');
  const noData = el('span', { className: 'leader__nodata' });
  const densityToggle = el('input', { attrs: { type: 'checkbox', id: 'leader-density' } });
  densityToggle.checked = true;
  const densityLabel = el('label', { attrs: { for: 'leader-density' } });
  const densityInfo = el('span', { className: 'leader__dim' });
  const legend = el('aside', { className: 'overlay leader-legend' }, [
    legendTitle,
    metricSeg,
    ramp,
    el('div', { className: 'leader__ramp-labels' }, [rampMin, rampMax]),
    noData,
    el('div', { className: 'leader__toggle' }, [densityToggle, densityLabel, densityInfo]),
  ]);

  const trackTitle = el('h3', { className: 'leader__subtitle' });
  const search = el('input', { className: 'leader__search', attrs: { type: 'search', autocomplete: 'off' } });
  const hits = el('ul', { className: 'leader__hits' });
  const play = el('button', { className: 'leader__play', attrs: { type: 'button' } });
  const slider = el('input', {
    className: 'leader__slider',
    attrs: { type: 'range', min: '0', max: '1000', step: '1', value: '0' },
  });
  const trackInfo = el('div', { className: 'leader__dim leader__trackinfo' });
  const trackPanel = el('aside', { className: 'overlay leader-track' }, [
    trackTitle,
    search,
    hits,
    el('div', { className: 'leader__row' }, [play, slider]),
    trackInfo,
  ]);
  ctx.root.append(side, legend, trackPanel);

  // --- drawing -----------------------------------------------------------------------------
  const trackLayers = (): Layer[] => {
    if (!track || track.path.length === 0) return [];
    const marker = positionAt(track, trackT);
    return [
      new PathLayer<{ path: [number, number][] }>({
        id: 'leader-track-path',
        data: [{ path: track.path }],
        getPath: (d) => d.path,
        getColor: [255, 214, 102, 220],
        getWidth: 3,
        widthUnits: 'pixels',
        jointRounded: true,
        capRounded: true,
      }),
      new ScatterplotLayer<[number, number]>({
        id: 'leader-track-marker',
        data: marker ? [marker] : [],
        getPosition: (d) => d,
        getFillColor: [255, 255, 255, 255],
        getLineColor: [255, 159, 67, 255],
        stroked: true,
        lineWidthUnits: 'pixels',
        getLineWidth: 3,
        radiusUnits: 'pixels',
        getRadius: 8,
        updateTriggers: { getPosition: [trackT] },
      }),
    ];
  };
  const drawLayers = (): void => {
    if (disposed) return;
    const out: Layer[] = [];
    // The density below a grid's coverage cells, so both stay readable.
    if (layers.density && densityOn) out.push(layers.density);
    if (layers.coverage) out.push(layers.coverage);
    out.push(...trackLayers());
    overlay.setExtraLayers(out);
  };

  const renderCrumbs = (): void => {
    crumbs.replaceChildren(
      ...path.flatMap((u, i) => {
        const last = i === path.length - 1;
        const b = el('button', {
          className: 'leader__crumb',
          text: u.name,
          attrs: { type: 'button', 'data-code': u.code, ...(last ? { 'aria-current': 'page' } : {}) },
        });
        b.disabled = last;
        b.addEventListener('click', () => void goTo(path.slice(0, i + 1)));
        return i === 0 ? [b] : [el('span', { className: 'leader__sep', text: '›' }), b];
      }),
    );
  };

  const segButtons = <K extends string>(
    box: HTMLElement,
    keys: readonly K[],
    selected: K,
    label: (k: K) => string,
    onPick: (k: K) => void,
  ): void => {
    box.replaceChildren(
      ...keys.map((k) => {
        const b = el('button', {
          className: 'leader__segbtn',
          text: label(k),
          attrs: { type: 'button', 'data-key': k, 'aria-pressed': String(k === selected) },
        });
        b.addEventListener('click', () => onPick(k));
        return b;
      }),
    );
  };

  const figure = (key: MessageKey, value: string, cls = ''): HTMLElement[] => [
    el('dt', { text: t(key) }),
    el('dd', { text: value, className: cls, attrs: { 'data-kpi': key.replace('leader.kpi.', '') } }),
  ];

  const renderKpi = (): void => {
    const u = current();
    const k = report?.unit;
    unitHead.replaceChildren(
      el('span', { className: 'leader__unitname', text: u?.name ?? '' }),
      el('span', { className: 'leader__dim', text: u ? `${levelName(u.level)} · ${u.code}` : '' }),
    );
    if (!k) {
      figures.replaceChildren();
      statusList.replaceChildren();
      return;
    }
    figures.replaceChildren(
      ...figure('leader.kpi.opened', num(k.opened), 'leader__big'),
      ...figure('leader.kpi.resolved', num(k.resolved), 'leader__big'),
      ...figure('leader.kpi.overdue', num(k.overdue_now), k.overdue_now > 0 ? 'leader__big leader__warn' : 'leader__big'),
      ...figure('leader.kpi.closed', num(k.closed)),
      ...figure('leader.kpi.resolution', pct(k.resolution_rate)),
      ...figure('leader.kpi.ontime', pct(k.on_time_rate)),
      ...figure('leader.kpi.dispatch', duration(k.median_dispatch_s)),
      ...figure('leader.kpi.resolve', duration(k.median_resolve_s)),
      ...figure('leader.kpi.workers', `${num(k.workers_online)} / ${num(k.workers_on_duty)}`),
      ...figure('leader.kpi.coverage', pct(k.coverage)),
    );
    statusTitle.textContent = t('leader.status.title');
    const entries = Object.entries(k.cases_by_status).sort((a, b) => b[1] - a[1]);
    statusList.replaceChildren(
      ...(entries.length === 0
        ? [el('li', { className: 'leader__dim', text: t('leader.status.none') })]
        : entries.map(([s, n]) => {
            const key = `leader.status.${s}`;
            return el('li', { attrs: { 'data-status': s } }, [
              el('span', { text: isMessageKey(key) ? t(key) : s }),
              el('b', { text: num(n) }),
            ]);
          })),
    );
  };

  const renderCoverage = (): void => {
    const u = current();
    coverageBox.hidden = u?.level !== Level.Grid;
    if (coverageBox.hidden) return;
    const c = coverage;
    coverageBox.replaceChildren(
      el('h3', { className: 'leader__subtitle', text: t('leader.coverage.title') }),
      el('div', {
        className: 'leader__coverage-figure',
        text: c ? pct(c.coverage) : '…',
        attrs: { 'data-coverage': c?.coverage === null || !c ? '' : String(c.coverage) },
      }),
      el('div', {
        className: 'leader__dim',
        text: c ? t('leader.coverage.cells', { visited: num(c.visited_cells), total: num(c.total_cells) }) : '',
      }),
      el('div', { className: 'leader__cellkey' }, [
        el('span', { className: 'leader__swatch leader__swatch--visited' }),
        el('span', { text: t('leader.coverage.visited') }),
        el('span', { className: 'leader__swatch leader__swatch--unvisited' }),
        el('span', { text: t('leader.coverage.unvisited') }),
      ]),
    );
  };

  const renderLegend = (max: number): void => {
    legendTitle.textContent = t('leader.legend.title');
    segButtons(metricSeg, METRICS, metric, (m) => t(`leader.metric.${m}`), (m) => {
      metric = m;
      applyChoropleth();
    });
    ramp.style.background = `linear-gradient(to right, ${RAMPS[metric].map(([at, c]) => `${c} ${at * 100}%`).join(', ')})`;
    rampMin.textContent = formatMetric(metric, 0);
    rampMax.textContent = formatMetric(metric, max);
    noData.textContent = t('leader.legend.nodata');
    noData.style.setProperty('--nodata', NO_DATA_COLOR);
    densityLabel.textContent = t('leader.density.toggle');
    densityInfo.textContent = density ? t('leader.density.info', { total: num(density.total), res: density.res }) : '';
  };

  const renderTrack = (): void => {
    trackTitle.textContent = t('leader.track.title');
    search.placeholder = t('leader.track.search');
    play.textContent = playing ? '❚❚' : '▶';
    play.setAttribute('aria-label', t(playing ? 'leader.track.pause' : 'leader.track.play'));
    play.disabled = !track || track.path.length < 2;
    slider.disabled = play.disabled;
    slider.setAttribute('aria-label', t('leader.track.slider'));
    if (!track) {
      trackInfo.textContent = t('leader.track.hint');
      return;
    }
    if (track.path.length === 0) {
      trackInfo.textContent = t('leader.track.empty', { name: track.name });
      return;
    }
    const at = new Date(trackT).toLocaleString(lang(), { hour12: false });
    trackInfo.textContent = t('leader.track.info', { name: track.name, points: track.path.length, at });
  };

  const renderStatic = (): void => {
    title.textContent = t('leader.title');
    refresh.textContent = '⟳';
    refresh.title = t('leader.refresh');
    refresh.setAttribute('aria-label', t('leader.refresh'));
    segButtons(windowSeg, WINDOW_KEYS, windowKey, (k) => t(`leader.window.${k}`), (k) => {
      windowKey = k;
      reloadWindow();
    });
    renderCrumbs();
    renderKpi();
    renderCoverage();
    renderLegend(lastMax);
    renderTrack();
  };

  // --- choropleth --------------------------------------------------------------------------
  let lastMax = 1;
  const applyChoropleth = (): void => {
    const units = (report?.children ?? []).filter((k) => isLevel(k.level));
    coloured = {};
    const entries = units.map((k) => {
      const value = metricValue(metric, k);
      coloured[k.code] = value;
      return { code: k.code, level: k.level as Level, value };
    });
    lastMax = choropleth.show(metric, entries);
    renderLegend(lastMax);
  };

  // --- loading -----------------------------------------------------------------------------
  const track_ = async <T>(p: Promise<T>): Promise<T> => {
    inflight += 1;
    try {
      return await p;
    } finally {
      inflight -= 1;
    }
  };
  const fail = (err: unknown): void => {
    if (disposed || isAbort(err)) return;
    console.error('Gridwall leader:', err);
    ctx.showError(t('leader.error', { reason: errorText(err) }));
  };

  /** KPIs (and for a grid its coverage) of the current unit and window. */
  const loadFigures = async (signal: AbortSignal): Promise<void> => {
    const u = current();
    if (!u) return;
    const [r, c] = await Promise.all([
      track_(getKpi({ unit: u.code, ...win, children: true }, signal)),
      u.level === Level.Grid ? track_(getCoverage(u.code, win, signal)) : Promise.resolve(undefined),
    ]);
    if (signal.aborted) return;
    report = r;
    coverage = c;
    applyChoropleth();
    renderKpi();
    renderCoverage();
    if (c?.cells) {
      const { coverageLayer } = await track_(hexes());
      if (signal.aborted) return;
      layers.coverage = coverageLayer(c.cells.visited, c.cells.unvisited);
    } else {
      delete layers.coverage;
    }
    drawLayers();
  };

  const loadDensity = async (): Promise<void> => {
    densityAbort.abort();
    densityAbort = new AbortController();
    const signal = densityAbort.signal;
    if (!densityOn) {
      drawLayers();
      return;
    }
    const res = densityResolution(map.getZoom());
    const b = map.getBounds();
    try {
      const [d, mod] = await Promise.all([
        track_(getDensity(res, win, [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], signal)),
        track_(hexes()),
      ]);
      if (signal.aborted) return;
      density = d;
      layers.density = mod.densityLayer(d.cells);
      drawLayers();
      renderLegend(lastMax);
    } catch (err) {
      fail(err);
    }
  };

  /** Moves to a unit (the last of `next`): its children, KPIs, bounds. */
  const goTo = async (next: UnitRef[]): Promise<void> => {
    unitAbort.abort();
    unitAbort = new AbortController();
    const signal = unitAbort.signal;
    path = next;
    report = undefined;
    coverage = undefined;
    delete layers.coverage;
    choropleth.clear();
    renderStatic();
    drawLayers();
    const u = current();
    if (!u) return;
    try {
      const outline =
        u.level === Level.Grid
          ? track_(getUnit(u.code, signal)).then((f) => [f])
          : track_(listUnits({ parent: u.code, simplify: SIMPLIFY_M[u.level] ?? 5 }, signal));
      const [features] = await Promise.all([outline, loadFigures(signal)]);
      if (signal.aborted) return;
      const bounds = bboxOf(...features.map((f) => f.geometry));
      if (bounds) {
        map.fitBounds(bounds, { padding: { top: 90, bottom: 60, left: 400, right: 360 }, duration: 600 });
      }
    } catch (err) {
      fail(err);
    }
  };

  const reloadWindow = (): void => {
    win = windowOf(windowKey);
    renderStatic();
    unitAbort.abort();
    unitAbort = new AbortController();
    void loadFigures(unitAbort.signal).catch(fail);
    void loadDensity();
    if (track) void loadTrack(track.id, false);
  };

  /** Goes to any unit of the territory by code (the path from the server). */
  const goCode = async (code: string): Promise<void> => {
    const f = await getUnit(code);
    const fullPath = (f.properties.path ?? []).filter((p) => isLevel(p.level)) as UnitRef[];
    const rootIndex = fullPath.findIndex((p) => p.code === path[0]?.code);
    await goTo(rootIndex >= 0 ? fullPath.slice(rootIndex) : fullPath);
  };

  // --- track playback ----------------------------------------------------------------------
  let raf = 0;
  let lastFrame = 0;
  const PLAY_MS = 20_000;
  const setT = (tMs: number): void => {
    trackT = tMs;
    const span = track ? spanOf(track) : undefined;
    if (span) {
      const f = span[1] > span[0] ? (tMs - span[0]) / (span[1] - span[0]) : 0;
      slider.value = String(Math.round(f * 1000));
    }
    renderTrack();
    drawLayers();
  };
  const stop = (): void => {
    playing = false;
    cancelAnimationFrame(raf);
    renderTrack();
  };
  const frame = (now: number): void => {
    const span = track ? spanOf(track) : undefined;
    if (!playing || !span) return;
    const dt = lastFrame ? now - lastFrame : 0;
    lastFrame = now;
    const next = trackT + ((span[1] - span[0]) * dt) / PLAY_MS;
    if (next >= span[1]) {
      setT(span[1]);
      stop();
      return;
    }
    setT(next);
    raf = requestAnimationFrame(frame);
  };
  play.addEventListener('click', () => {
    const span = track ? spanOf(track) : undefined;
    if (!span) return;
    if (playing) {
      stop();
      return;
    }
    if (trackT >= span[1]) setT(span[0]);
    playing = true;
    lastFrame = 0;
    renderTrack();
    raf = requestAnimationFrame(frame);
  });
  slider.addEventListener('input', () => {
    const span = track ? spanOf(track) : undefined;
    if (!span) return;
    if (playing) stop();
    setT(span[0] + ((span[1] - span[0]) * Number(slider.value)) / 1000);
  });

  /** Loads a track for the window; `fit`: a newly picked worker, so show the whole path. */
  const loadTrack = async (id: number, fit: boolean): Promise<void> => {
    if (fit) stop();
    try {
      const tr = await track_(getTrack(id, win));
      if (disposed) return;
      track = tr;
      const span = spanOf(tr);
      // A reload (new window, the minute's refresh) keeps the playback time where it can.
      setT(span ? (fit || trackT < span[0] || trackT > span[1] ? span[0] : trackT) : 0);
      const pts = tr.path;
      if (fit && pts.length > 0) {
        const xs = pts.map((p) => p[0]);
        const ys = pts.map((p) => p[1]);
        map.fitBounds([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)], {
          padding: { top: 140, bottom: 140, left: 460, right: 420 },
          maxZoom: 16,
          duration: 600,
        });
      }
    } catch (err) {
      fail(err);
    }
  };

  let searchTimer = 0;
  let searchAbort = new AbortController();
  search.addEventListener('input', () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => {
      searchAbort.abort();
      searchAbort = new AbortController();
      const q = search.value.trim();
      if (!q) {
        hits.replaceChildren();
        return;
      }
      const signal = searchAbort.signal;
      track_(searchWorkers(q, signal)).then((ws) => {
        if (signal.aborted) return;
        hits.replaceChildren(
          ...(ws.length === 0
            ? [el('li', { className: 'leader__dim', text: t('leader.track.nohits') })]
            : ws.map((w) => {
                const b = el('button', {
                  className: 'leader__hit',
                  attrs: { type: 'button', 'data-id': String(w.id) },
                }, [el('span', { text: w.name }), el('span', { className: 'leader__dim', text: w.grid.name })]);
                b.addEventListener('click', () => {
                  hits.replaceChildren();
                  search.value = w.name;
                  void loadTrack(w.id, true);
                });
                return el('li', {}, [b]);
              })),
        );
      }, fail);
    }, 250);
  });

  // --- map interaction ---------------------------------------------------------------------
  const onClick = (e: MapMouseEvent): void => {
    const u = current();
    if (!u || u.level === Level.Grid) return;
    const layersNow = choropleth.layerIds().filter((id) => map.getLayer(id));
    const hit = map
      .queryRenderedFeatures(e.point, { layers: layersNow })
      .find((f) => typeof f.properties['code'] === 'string' && f.properties['code'] in coloured);
    const code = hit?.properties['code'];
    const level = hit?.properties['level'];
    if (typeof code !== 'string' || !isLevel(level)) return;
    const name = typeof hit?.properties['name'] === 'string' ? (hit.properties['name'] as string) : code;
    void goTo([...path, { code, name, level }]);
  };
  const onMove = (e: MapMouseEvent): void => {
    const layersNow = choropleth.layerIds().filter((id) => map.getLayer(id));
    const over = map
      .queryRenderedFeatures(e.point, { layers: layersNow })
      .some((f) => typeof f.properties['code'] === 'string' && f.properties['code'] in coloured);
    map.getCanvasContainer().classList.toggle('is-over-unit', over);
  };
  let moveTimer = 0;
  const onMoveEnd = (): void => {
    window.clearTimeout(moveTimer);
    moveTimer = window.setTimeout(() => void loadDensity(), 150);
  };
  map.on('click', onClick);
  map.on('mousemove', onMove);
  map.on('moveend', onMoveEnd);
  densityToggle.addEventListener('change', () => {
    densityOn = densityToggle.checked;
    void loadDensity();
  });
  refresh.addEventListener('click', () => reloadWindow());
  // A cockpit stays current by itself: the figures are read again every minute.
  const autoRefresh = window.setInterval(() => {
    if (!document.hidden) reloadWindow();
  }, 60_000);

  const offLang = onLangChange(() => renderStatic());

  // --- start ---------------------------------------------------------------------------------
  const start = async (): Promise<void> => {
    const scope = ctx.session.user.scope;
    let root: UnitRef | undefined;
    if (scope && isLevel(scope.level)) {
      root = { code: scope.code, name: scope.name, level: scope.level };
    } else {
      for (const level of [Level.City, Level.County]) {
        const units = await track_(listUnits({ level, simplify: 500 }));
        const first = units[0]?.properties;
        if (units.length === 1 && first && isLevel(first.level)) {
          root = { code: first.code, name: first.name, level: first.level };
          break;
        }
      }
    }
    if (!root) {
      ctx.showError(t('leader.noroot'));
      return;
    }
    await goTo([root]);
    void loadDensity();
  };
  void track_(start()).catch(fail);

  const debug: LeaderDebug = {
    unit: current,
    path: () => [...path],
    metric: () => metric,
    window: () => win,
    values: () => ({ ...coloured }),
    featureState: (code, level) =>
      isLevel(level) ? map.getFeatureState(unitFeature(code, level)) : {},
    density: () => (density ? { res: density.res, cells: density.cells } : undefined),
    coverage: () => coverage,
    track: () =>
      track ? { id: track.id, points: track.path.length, marker: positionAt(track, trackT), t: trackT } : undefined,
    extraLayerIds: () => {
      const ids: string[] = [];
      if (layers.coverage) ids.push('leader-coverage');
      if (layers.density && densityOn) ids.push('leader-density');
      if (track && track.path.length > 0) ids.push('leader-track-path', 'leader-track-marker');
      return ids;
    },
    busy: () => inflight > 0,
    go: goCode,
  };
  window.__gridwallLeader = debug;

  return () => {
    disposed = true;
    stop();
    unitAbort.abort();
    densityAbort.abort();
    searchAbort.abort();
    window.clearInterval(autoRefresh);
    window.clearTimeout(moveTimer);
    window.clearTimeout(searchTimer);
    map.off('click', onClick);
    map.off('mousemove', onMove);
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
