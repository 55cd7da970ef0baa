// The wall (大屏), mounted by the shell at /wall: the map of one unit at a time with its live
// workers, vehicles, cases and alerts, a header of the unit's KPIs, breadcrumbs, a ticker and
// the open cases, an SOS banner with a siren, and a kiosk mode that tours the townships.
//
// The unit shown is the one thing everything follows: the socket is subscribed to it (not to
// the viewport, so panning the wall never changes what is counted), the map fits its bounds,
// the KPIs are its figures, and `?unit=CODE` in the URL keeps it across a reload. Clicking a
// unit's child on the map drills down one level; the breadcrumbs go back up, never above the
// user's own scope. Sizes follow the screen's width (CSS in vw, markers and labels by
// `wallScale`), so a 3840×2160 wall shows everything twice as large as a 1920 monitor.

import './wall.css';

import type { MapMouseEvent, ExpressionSpecification } from 'maplibre-gl';

import { onLangChange, t } from '../i18n';
import type { LayerName } from '../live/client';
import { PULSE_FRAME_MS } from '../live/overlay';
import { LEVELS, type Level, type Ramp } from '../map/levels';
import { pickUnitAt } from '../map/pick';
import { UNITS_SOURCE, layerIds } from '../map/style';
import { el } from '../ui/dom';
import type { MountView } from '../views/types';
import { Ticker, renderCases, renderTicker } from './feed';
import { KPI_NUDGE_MS, KPI_REFRESH_MS, fetchKpi, renderKpi, type WallKpi } from './kpi';
import { Siren, openSos, renderSosBanner, soundLabel } from './sos';
import { fetchUnit, startUnitCode, townshipsOf, type WallUnit } from './units';

const LAYERS: LayerName[] = ['workers', 'vehicles', 'cases', 'alerts'];
const DEFAULT_KIOSK_INTERVAL_S = 30;
const MIN_KIOSK_INTERVAL_S = 3;

/** The wall's size factor: 1 up to a 1920-pixel-wide screen, 2 on a 3840 one. */
export function wallScale(width: number = window.innerWidth): number {
  return Math.min(3, Math.max(1, width / 1920));
}

/** The state the browser tests read through `window.__gridwallWall`. */
export interface WallDebug {
  unit: WallUnit | undefined;
  kpi: WallKpi | undefined;
  scale: number;
  kiosk: { on: boolean; intervalS: number; codes: string[]; index: number; visited: string[] };
  sound: { enabled: boolean; playing: boolean };
  sos: number[];
  /** Codes and levels of the unit polygons drawn now (MapLibre `queryRenderedFeatures`). */
  renderedUnits: () => Array<{ code: string; level: number; name: string }>;
  /** Shows a unit as a click on it would. */
  show: (code: string) => Promise<void>;
}

declare global {
  interface Window {
    __gridwallWall?: WallDebug;
  }
}

function ramp(stops: Ramp, scale: number): number | ExpressionSpecification {
  const [first] = stops;
  if (stops.length === 1 && first) return first[1] * scale;
  const flat = stops.flatMap(([zoom, value]) => [zoom, value * scale]);
  return ['interpolate', ['linear'], ['zoom'], ...flat] as ExpressionSpecification;
}

export const mountWall: MountView = (ctx) => {
  const { map, live, overlay, session, root } = ctx;
  const params = new URLSearchParams(window.location.search);
  const kioskOn = params.get('kiosk') === '1';
  const askedInterval = Number(params.get('interval') ?? DEFAULT_KIOSK_INTERVAL_S);
  const intervalS = Number.isFinite(askedInterval)
    ? Math.max(MIN_KIOSK_INTERVAL_S, askedInterval)
    : DEFAULT_KIOSK_INTERVAL_S;
  const scopeLevel = session.user.scope?.level ?? 0;

  document.body.classList.add('wall');
  document.body.classList.toggle('wall--kiosk', kioskOn);

  // The page's own parts, all in the view's root.
  const kpiBox = el('section', { className: 'wall-kpi', attrs: { id: 'wall-kpi', role: 'status' } });
  const crumbs = el('nav', { className: 'wall-crumbs', attrs: { id: 'wall-crumbs' } });
  const sosBanner = el('div', { className: 'wall-sos', attrs: { id: 'wall-sos', role: 'alert' } });
  sosBanner.hidden = true;
  const casesBox = el('section', { className: 'wall-box wall-cases', attrs: { id: 'wall-cases' } });
  const tickerBox = el('section', {
    className: 'wall-box wall-ticker',
    attrs: { id: 'wall-ticker', 'aria-live': 'polite' },
  });
  const side = el('div', { className: 'wall-side' }, [casesBox, tickerBox]);
  const soundButton = el('button', {
    className: 'wall-sound',
    attrs: { id: 'wall-sound', type: 'button' },
  });
  const kioskBadge = el('div', { className: 'wall-kiosk', attrs: { id: 'wall-kiosk' } });
  kioskBadge.hidden = !kioskOn;
  root.append(kpiBox, crumbs, sosBanner, side, soundButton, kioskBadge);

  let current: WallUnit | undefined;
  let kpi: WallKpi | undefined;
  let kpiFailed = false;
  let loading = 0;
  let kpiTimer: number | undefined;
  let nudgeTimer: number | undefined;
  let kioskTimer: number | undefined;
  let disposed = false;
  const ticker = new Ticker();
  const siren = new Siren();
  const kiosk = { on: kioskOn, intervalS, codes: [] as string[], index: -1, visited: [] as string[] };

  // Sizes for the screen: markers through the overlay, map labels by the same factor.
  const labelSizes = new Map<string, unknown>();
  let scale = 1;
  const applyScale = (): void => {
    scale = wallScale();
    document.documentElement.style.setProperty('--wall-scale', String(scale));
    // 10 frames a second carry a 1.6 s pulse well, and a 4K frame is four 1080p ones.
    overlay.configure({ scale, pulseOverdue: true, pulseFrameMs: scale > 1.5 ? 150 : 100 });
    for (const l of LEVELS) {
      const id = layerIds.label(l);
      if (!map.getLayer(id)) continue;
      if (!labelSizes.has(id)) labelSizes.set(id, map.getLayoutProperty(id, 'text-size'));
      map.setLayoutProperty(id, 'text-size', ramp(l.label.size, scale * 1.25));
    }
  };
  applyScale();

  const renderAll = (): void => {
    renderKpi(kpiBox, current?.name ?? '', kpi, kpiFailed);
    renderCrumbs();
    renderCases(casesBox, live);
    renderTicker(tickerBox, ticker);
    renderSos();
    renderSound();
    kioskBadge.textContent = t('wall.kiosk.label', { seconds: intervalS });
  };

  const renderCrumbs = (): void => {
    crumbs.setAttribute('aria-label', t('wall.crumbs.label'));
    if (!current) {
      crumbs.replaceChildren();
      return;
    }
    const steps = current.path.filter((s) => s.level >= scopeLevel);
    if (steps.length === 0) steps.push({ code: current.code, name: current.name, level: current.level });
    const items = steps.map((s, i) => {
      const last = i === steps.length - 1;
      const node = last
        ? el('span', {
            className: 'wall-crumbs__here',
            text: s.name,
            attrs: { 'aria-current': 'page', 'data-code': s.code },
          })
        : el('button', {
            className: 'wall-crumbs__link',
            text: s.name,
            attrs: { type: 'button', 'data-code': s.code },
          });
      if (!last) node.addEventListener('click', () => void show(s.code, true));
      return el('li', { className: 'wall-crumbs__item' }, [node]);
    });
    const hint =
      current.level < 4 && !kioskOn
        ? [el('p', { className: 'wall-crumbs__hint', text: t('wall.crumbs.hint') })]
        : [];
    crumbs.replaceChildren(el('ol', { className: 'wall-crumbs__list' }, items), ...hint);
  };

  const renderSos = (): void => {
    const open = renderSosBanner(sosBanner, live);
    siren.set(open.length > 0);
    document.body.classList.toggle('wall--sos', open.length > 0);
  };

  const renderSound = (): void => {
    soundButton.textContent = soundLabel(siren);
    soundButton.classList.toggle('wall-sound--on', siren.enabled);
    soundButton.classList.toggle('wall-sound--needed', !siren.enabled && openSos(live).length > 0);
  };

  soundButton.addEventListener('click', () => {
    const next = siren.enabled ? siren.disable() : siren.enable();
    void next.then(renderSound, (err: unknown) => {
      console.error('Gridwall wall: sound', err);
      soundButton.textContent = t('wall.sound.blocked');
    });
  });

  // KPIs: on a timer, and soon after live events (coalesced).
  const refreshKpi = async (): Promise<void> => {
    const unit = current;
    if (!unit) return;
    try {
      const next = await fetchKpi(unit.code);
      if (disposed || current?.code !== unit.code) return;
      kpi = next;
      kpiFailed = false;
    } catch (err) {
      if (disposed) return;
      console.error('Gridwall wall: KPIs', err);
      kpiFailed = true;
    }
    renderKpi(kpiBox, current?.name ?? '', kpi, kpiFailed);
  };
  const scheduleKpi = (): void => {
    window.clearInterval(kpiTimer);
    kpiTimer = window.setInterval(() => void refreshKpi(), KPI_REFRESH_MS);
  };
  const nudgeKpi = (): void => {
    if (nudgeTimer !== undefined) return;
    nudgeTimer = window.setTimeout(() => {
      nudgeTimer = undefined;
      void refreshKpi();
    }, KPI_NUDGE_MS);
  };

  /** Room the map keeps free of data: below the header and crumbs, left of the side column. */
  const padding = (): { top: number; right: number; bottom: number; left: number } => {
    const box = map.getContainer().getBoundingClientRect();
    const margin = 24 * scale;
    const top = Math.max(margin, crumbs.getBoundingClientRect().bottom - box.top + margin);
    const right = Math.max(margin, box.right - side.getBoundingClientRect().left + margin);
    const fits = box.width - right - margin > 100 && box.height - top - margin > 100;
    return fits ? { top, right, bottom: margin, left: margin } : { top: 0, right: 0, bottom: 0, left: 0 };
  };

  /** Lights the unit shown (its fill, by feature state) so its extent reads on the wall. */
  const highlight = (unit: WallUnit | undefined, on: boolean): void => {
    const style = unit ? LEVELS.find((l) => l.level === unit.level) : undefined;
    if (!unit || !style) return;
    try {
      map.setFeatureState(
        { source: UNITS_SOURCE, sourceLayer: style.sourceLayer, id: unit.code },
        { selected: on },
      );
    } catch (err) {
      console.warn('Gridwall wall: cannot highlight', unit.code, err);
    }
  };

  /** Shows a unit: subscribe, fit, crumbs, KPIs; `push` adds a history entry. */
  const show = async (code: string, push: boolean): Promise<void> => {
    const token = ++loading;
    let unit: WallUnit;
    try {
      unit = await fetchUnit(code);
    } catch (err) {
      if (disposed || token !== loading) return;
      ctx.showError(t('wall.unit.failed', { code, reason: err instanceof Error ? err.message : String(err) }));
      return;
    }
    if (disposed || token !== loading) return;
    highlight(current, false);
    current = unit;
    highlight(current, true);
    kpi = kpi?.unit === unit.code ? kpi : undefined;
    live.subscribe({ layers: LAYERS, unit: unit.code });
    const [w, s, e, n] = unit.bbox;
    map.fitBounds(
      [
        [w, s],
        [e, n],
      ],
      { padding: padding(), duration: kioskOn ? 1500 : 800, maxZoom: 17 },
    );
    if (!kioskOn) {
      const url = new URL(window.location.href);
      if (url.searchParams.get('unit') !== unit.code) {
        url.searchParams.set('unit', unit.code);
        if (push) window.history.pushState({ wallUnit: unit.code }, '', url);
        else window.history.replaceState({ wallUnit: unit.code }, '', url);
      }
    }
    renderAll();
    scheduleKpi();
    await refreshKpi();
  };

  // Drill down: a click on the map opens the child unit under the pointer.
  const onClick = (e: MapMouseEvent): void => {
    if (kioskOn || !current || current.level >= 4) return;
    const child = pickUnitAt(map, e.point, (current.level + 1) as Level);
    if (child) void show(child.code, true);
  };
  const onMove = (e: MapMouseEvent): void => {
    const over =
      !kioskOn && current !== undefined && current.level < 4 && pickUnitAt(map, e.point, (current.level + 1) as Level) !== undefined;
    map.getCanvasContainer().classList.toggle('is-over-unit', over);
  };
  map.on('click', onClick);
  map.on('mousemove', onMove);

  const onPopState = (): void => {
    const code = new URLSearchParams(window.location.search).get('unit');
    if (code && code !== current?.code) void show(code, false);
  };
  window.addEventListener('popstate', onPopState);

  // A resized window (a browser put full-screen on the wall): rescale, and fit the unit again
  // once the resizing has stopped.
  let resizeTimer: number | undefined;
  const onResize = (): void => {
    applyScale();
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      if (!current || disposed) return;
      const [w, s, e, n] = current.bbox;
      map.fitBounds(
        [
          [w, s],
          [e, n],
        ],
        { padding: padding(), duration: 0, maxZoom: 17 },
      );
    }, 250);
  };
  window.addEventListener('resize', onResize);

  const offChange = live.onChange((change) => {
    const casesOrAlerts = change.cases.length > 0 || change.alerts.length > 0;
    if (change.snapshot && !change.resources) {
      ticker.seed(live);
      renderTicker(tickerBox, ticker);
    } else if (ticker.push(change)) {
      renderTicker(tickerBox, ticker);
    }
    if (casesOrAlerts || (change.snapshot && !change.resources)) {
      renderCases(casesBox, live);
      renderSos();
      renderSound();
    } else if (change.resources && !sosBanner.hidden) {
      renderSos(); // the worker's name may have arrived with the resources
    }
    if (casesOrAlerts) nudgeKpi();
  });
  const offLang = onLangChange(() => renderAll());

  // Kiosk: tour the townships of the user's scope, one every `intervalS`.
  const startKiosk = async (scopeUnit: WallUnit): Promise<void> => {
    const townships = await townshipsOf(scopeUnit);
    if (disposed) return;
    kiosk.codes = townships.map((u) => u.code);
    if (kiosk.codes.length === 0) return;
    const next = (): void => {
      kiosk.index = (kiosk.index + 1) % kiosk.codes.length;
      const code = kiosk.codes[kiosk.index];
      if (code === undefined) return;
      kiosk.visited.push(code);
      void show(code, false);
    };
    next();
    kioskTimer = window.setInterval(next, intervalS * 1000);
  };

  // Start: `?unit=` if it is in reach, else the user's scope (admins: the top unit).
  const begin = async (): Promise<void> => {
    let startCode: string;
    try {
      startCode = await startUnitCode(session);
    } catch (err) {
      ctx.showError(t('wall.unit.failed', { code: '-', reason: String(err) }));
      return;
    }
    if (disposed) return;
    if (kioskOn) {
      try {
        const scopeUnit = await fetchUnit(startCode);
        if (disposed) return;
        await show(scopeUnit.code, false);
        await startKiosk(scopeUnit);
      } catch (err) {
        ctx.showError(t('wall.unit.failed', { code: startCode, reason: String(err) }));
      }
      return;
    }
    const asked = params.get('unit');
    if (asked && /^\d{6,15}$/.test(asked)) {
      await show(asked, false);
      if (current) return;
    }
    await show(startCode, false);
  };
  renderAll();
  void begin();

  window.__gridwallWall = {
    get unit() {
      return current;
    },
    get kpi() {
      return kpi;
    },
    get scale() {
      return scale;
    },
    kiosk,
    get sound() {
      return { enabled: siren.enabled, playing: siren.playing };
    },
    get sos() {
      return openSos(live).map((a) => a.id);
    },
    renderedUnits: () => {
      const layers = LEVELS.map(layerIds.fill).filter((id) => map.getLayer(id) !== undefined);
      return map.queryRenderedFeatures({ layers }).map((f) => {
        const p = f.properties as Record<string, unknown>;
        return { code: String(p['code']), level: Number(p['level']), name: String(p['name'] ?? '') };
      });
    },
    show: (code: string) => show(code, true),
  };

  return () => {
    disposed = true;
    highlight(current, false);
    window.clearInterval(kpiTimer);
    window.clearTimeout(nudgeTimer);
    window.clearInterval(kioskTimer);
    window.clearTimeout(resizeTimer);
    offChange();
    offLang();
    map.off('click', onClick);
    map.off('mousemove', onMove);
    window.removeEventListener('popstate', onPopState);
    window.removeEventListener('resize', onResize);
    siren.close();
    overlay.configure({ scale: 1, pulseOverdue: false, pulseFrameMs: PULSE_FRAME_MS });
    for (const [id, size] of labelSizes) {
      if (map.getLayer(id)) map.setLayoutProperty(id, 'text-size', size as number);
    }
    document.documentElement.style.removeProperty('--wall-scale');
    document.body.classList.remove('wall', 'wall--kiosk', 'wall--sos');
    delete window.__gridwallWall;
  };
};
