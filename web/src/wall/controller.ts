// What the wall does: show a unit (subscribe to it, fit it, light it, crumbs, KPIs, the URL),
// start at the right unit, tour the townships in kiosk mode, and follow the live changes into
// the ticker, the open cases, the SOS banner and the KPIs. The parts only render.

import type { Map as MapLibreMap, MapMouseEvent } from 'maplibre-gl';

import { errorText, type Session } from '../api';
import { t } from '../i18n';
import type { LayerName, LiveChange, LiveClient } from '../live/client';
import type { Alarm } from './alarm';
import { renderCrumbs } from './crumbs';
import { childAt, fitUnit, highlight, wallPadding } from './drilldown';
import { Ticker, renderCases, renderTicker } from './feed';
import type { KpiStrip } from './kpi';
import type { WallScale } from './scale';
import { fetchUnit, startUnitCode, townshipsOf, type WallUnit } from './units';

const LAYERS: LayerName[] = ['workers', 'vehicles', 'cases', 'alerts'];

/** The kiosk's tour, as the browser tests read it. */
export interface KioskState {
  on: boolean;
  intervalS: number;
  codes: string[];
  index: number;
  visited: string[];
}

/** The wall's own elements (all in the view's root). */
export interface WallParts {
  kpi: KpiStrip;
  crumbs: HTMLElement;
  casesBox: HTMLElement;
  tickerBox: HTMLElement;
  side: HTMLElement;
  kioskBadge: HTMLElement;
  alarm: Alarm;
  scale: WallScale;
}

export interface WallContext {
  map: MapLibreMap;
  live: LiveClient;
  session: Session;
  showError: (message: string) => void;
}

export class WallController {
  current: WallUnit | undefined;
  disposed = false;
  readonly ticker = new Ticker();
  private loading = 0;
  private kioskTimer: number | undefined;

  constructor(
    private readonly ctx: WallContext,
    private readonly parts: WallParts,
    readonly kiosk: KioskState,
  ) {}

  renderAll(): void {
    const { parts } = this;
    parts.kpi.render();
    this.renderCrumbs();
    renderCases(parts.casesBox, this.ctx.live);
    renderTicker(parts.tickerBox, this.ticker);
    parts.alarm.render();
    parts.kioskBadge.textContent = t('wall.kiosk.label', { seconds: this.kiosk.intervalS });
  }

  private renderCrumbs(): void {
    renderCrumbs(this.parts.crumbs, this.current, {
      scopeLevel: this.ctx.session.user.scope?.level ?? 0,
      kiosk: this.kiosk.on,
      onPick: (code) => void this.show(code, true),
    });
  }

  /** Fits the map to the unit shown, clear of the header and the side column. */
  fit(duration: number): void {
    if (!this.current) return;
    const { map } = this.ctx;
    const { crumbs, side, scale } = this.parts;
    fitUnit(map, this.current, wallPadding(map, crumbs, side, scale.value), duration);
  }

  /** Shows a unit: subscribe, fit, crumbs, KPIs; `push` adds a history entry. */
  async show(code: string, push: boolean): Promise<void> {
    const { ctx, parts } = this;
    const token = ++this.loading;
    let unit: WallUnit;
    try {
      unit = await fetchUnit(code);
    } catch (err) {
      if (this.disposed || token !== this.loading) return;
      ctx.showError(t('wall.unit.failed', { code, reason: errorText(err) }));
      return;
    }
    if (this.disposed || token !== this.loading) return;
    highlight(ctx.map, this.current, false);
    this.current = unit;
    highlight(ctx.map, unit, true);
    parts.kpi.forUnit(unit.code);
    ctx.live.subscribe({ layers: LAYERS, unit: unit.code });
    this.fit(this.kiosk.on ? 1500 : 800);
    if (!this.kiosk.on) {
      const url = new URL(window.location.href);
      if (url.searchParams.get('unit') !== unit.code) {
        url.searchParams.set('unit', unit.code);
        if (push) window.history.pushState({ wallUnit: unit.code }, '', url);
        else window.history.replaceState({ wallUnit: unit.code }, '', url);
      }
    }
    this.renderAll();
    parts.kpi.schedule();
    await parts.kpi.refresh();
  }

  /** Drill down: a click on the map opens the child unit under the pointer. */
  readonly onClick = (e: MapMouseEvent): void => {
    if (this.kiosk.on) return;
    const child = childAt(this.ctx.map, this.current, e.point);
    if (child) void this.show(child.code, true);
  };

  readonly onMove = (e: MapMouseEvent): void => {
    const over = !this.kiosk.on && childAt(this.ctx.map, this.current, e.point) !== undefined;
    this.ctx.map.getCanvasContainer().classList.toggle('is-over-unit', over);
  };

  readonly onPopState = (): void => {
    const code = new URLSearchParams(window.location.search).get('unit');
    if (code && code !== this.current?.code) void this.show(code, false);
  };

  /** A live change: ticker, open cases, SOS and sound, and a KPI refresh soon. */
  applyLive(change: LiveChange): void {
    const { parts, ticker } = this;
    const { live } = this.ctx;
    const casesOrAlerts = change.cases.length > 0 || change.alerts.length > 0;
    if (change.snapshot && !change.resources) {
      ticker.seed(live);
      renderTicker(parts.tickerBox, ticker);
    } else if (ticker.push(change)) {
      renderTicker(parts.tickerBox, ticker);
    }
    if (casesOrAlerts || (change.snapshot && !change.resources)) {
      renderCases(parts.casesBox, live);
      parts.alarm.render();
    } else if (change.resources && !parts.alarm.banner.hidden) {
      parts.alarm.renderSos(); // the worker's name may have arrived with the resources
    }
    if (casesOrAlerts) parts.kpi.nudge();
  }

  /** Kiosk: tour the townships of the user's scope, one every `intervalS`. */
  private async startKiosk(scopeUnit: WallUnit): Promise<void> {
    const { kiosk } = this;
    const townships = await townshipsOf(scopeUnit);
    if (this.disposed) return;
    kiosk.codes = townships.map((u) => u.code);
    if (kiosk.codes.length === 0) return;
    const next = (): void => {
      kiosk.index = (kiosk.index + 1) % kiosk.codes.length;
      const code = kiosk.codes[kiosk.index];
      if (code === undefined) return;
      kiosk.visited.push(code);
      void this.show(code, false);
    };
    next();
    this.kioskTimer = window.setInterval(next, kiosk.intervalS * 1000);
  }

  /** Start: `?unit=` if it is in reach, else the user's scope (admins: the top unit). */
  async begin(asked: string | null): Promise<void> {
    const { ctx } = this;
    let startCode: string;
    try {
      startCode = await startUnitCode(ctx.session);
    } catch (err) {
      ctx.showError(t('wall.unit.failed', { code: '-', reason: errorText(err) }));
      return;
    }
    if (this.disposed) return;
    if (this.kiosk.on) {
      try {
        const scopeUnit = await fetchUnit(startCode);
        if (this.disposed) return;
        await this.show(scopeUnit.code, false);
        await this.startKiosk(scopeUnit);
      } catch (err) {
        ctx.showError(t('wall.unit.failed', { code: startCode, reason: errorText(err) }));
      }
      return;
    }
    if (asked && /^\d{6,15}$/.test(asked)) {
      await this.show(asked, false);
      if (this.current) return;
    }
    await this.show(startCode, false);
  }

  dispose(): void {
    this.disposed = true;
    highlight(this.ctx.map, this.current, false);
    window.clearInterval(this.kioskTimer);
  }
}
