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
//
// This file composes the parts: controller.ts (what the wall does), kpi.ts (header),
// crumbs.ts, feed.ts (open cases, ticker), alarm.ts and sos.ts (SOS, siren), drilldown.ts,
// scale.ts, units.ts.

import './wall.css';

import type { Map as MapLibreMap } from 'maplibre-gl';

import { onLangChange } from '../i18n';
import { LEVELS } from '../map/levels';
import { layerIds } from '../map/style';
import { el } from '../ui/dom';
import type { MountView } from '../views/types';
import { Alarm } from './alarm';
import { WallController, type KioskState } from './controller';
import { KpiStrip, type WallKpi } from './kpi';
import { WallScale } from './scale';
import type { WallUnit } from './units';

const DEFAULT_KIOSK_INTERVAL_S = 30;
const MIN_KIOSK_INTERVAL_S = 3;

/** The state the browser tests read through `window.__gridwallWall`. */
export interface WallDebug {
  unit: WallUnit | undefined;
  kpi: WallKpi | undefined;
  scale: number;
  kiosk: KioskState;
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

/** `?kiosk=1&interval=30` (seconds, at least 3). */
function kioskOf(params: URLSearchParams): KioskState {
  const askedInterval = Number(params.get('interval') ?? DEFAULT_KIOSK_INTERVAL_S);
  const intervalS = Number.isFinite(askedInterval)
    ? Math.max(MIN_KIOSK_INTERVAL_S, askedInterval)
    : DEFAULT_KIOSK_INTERVAL_S;
  return { on: params.get('kiosk') === '1', intervalS, codes: [], index: -1, visited: [] };
}

function debugOf(map: MapLibreMap, control: WallController, kpi: KpiStrip, scale: WallScale, alarm: Alarm): WallDebug {
  return {
    get unit() {
      return control.current;
    },
    get kpi() {
      return kpi.kpi;
    },
    get scale() {
      return scale.value;
    },
    kiosk: control.kiosk,
    get sound() {
      return { enabled: alarm.siren.enabled, playing: alarm.siren.playing };
    },
    get sos() {
      return alarm.open();
    },
    renderedUnits: () => {
      const layers = LEVELS.map(layerIds.fill).filter((id) => map.getLayer(id) !== undefined);
      return map.queryRenderedFeatures({ layers }).map((f) => {
        const p = f.properties as Record<string, unknown>;
        return { code: String(p['code']), level: Number(p['level']), name: String(p['name'] ?? '') };
      });
    },
    show: (code: string) => control.show(code, true),
  };
}

export const mountWall: MountView = (ctx) => {
  const { map, live, overlay, root } = ctx;
  const params = new URLSearchParams(window.location.search);
  const kiosk = kioskOf(params);
  document.body.classList.add('wall');
  document.body.classList.toggle('wall--kiosk', kiosk.on);

  let control: WallController | undefined;
  const kpi = new KpiStrip(() => control?.current);
  const crumbs = el('nav', { className: 'wall-crumbs', attrs: { id: 'wall-crumbs' } });
  const alarm = new Alarm(live);
  const casesBox = el('section', { className: 'wall-box wall-cases', attrs: { id: 'wall-cases' } });
  const tickerBox = el('section', {
    className: 'wall-box wall-ticker',
    attrs: { id: 'wall-ticker', 'aria-live': 'polite' },
  });
  const side = el('div', { className: 'wall-side' }, [casesBox, tickerBox]);
  const kioskBadge = el('div', { className: 'wall-kiosk', attrs: { id: 'wall-kiosk' } });
  kioskBadge.hidden = !kiosk.on;
  root.append(kpi.element, crumbs, alarm.banner, side, alarm.soundButton, kioskBadge);

  const scale = new WallScale(map, overlay);
  scale.apply();
  const wall = new WallController(
    { map, live, session: ctx.session, showError: ctx.showError },
    { kpi, crumbs, casesBox, tickerBox, side, kioskBadge, alarm, scale },
    kiosk,
  );
  control = wall;

  map.on('click', wall.onClick);
  map.on('mousemove', wall.onMove);
  window.addEventListener('popstate', wall.onPopState);
  // A resized window (a browser put full-screen on the wall): rescale, and fit the unit again
  // once the resizing has stopped.
  let resizeTimer: number | undefined;
  const onResize = (): void => {
    scale.apply();
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      if (!wall.disposed) wall.fit(0);
    }, 250);
  };
  window.addEventListener('resize', onResize);
  const offChange = live.onChange((change) => wall.applyLive(change));
  const offLang = onLangChange(() => wall.renderAll());

  wall.renderAll();
  void wall.begin(params.get('unit'));
  window.__gridwallWall = debugOf(map, wall, kpi, scale, alarm);

  return () => {
    wall.dispose();
    kpi.dispose();
    window.clearTimeout(resizeTimer);
    offChange();
    offLang();
    map.off('click', wall.onClick);
    map.off('mousemove', wall.onMove);
    window.removeEventListener('popstate', wall.onPopState);
    window.removeEventListener('resize', onResize);
    alarm.close();
    scale.restore();
    document.body.classList.remove('wall', 'wall--kiosk', 'wall--sos');
    delete window.__gridwallWall;
  };
};
