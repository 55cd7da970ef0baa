// The wall's header: five live figures of the unit shown, big enough to read from 5 m.
// `GET /api/kpi?unit=&from=&to=` (window: today, local midnight to now; coverage left out,
// it is the slow part and the wall does not show it) and the open-case count from
// `GET /api/cases?unit=&status=open&limit=1` (its `total`). Refreshed on a timer and, a moment
// after a live case or alert event, sooner — events come in bursts, so refreshes are coalesced.

import { getKpi, listCases } from '../api';
import { t, type MessageKey } from '../i18n';
import { el } from '../ui/dom';

export interface WallKpi {
  unit: string;
  workersOnline: number;
  openCases: number;
  overdue: number;
  resolvedToday: number;
  /** 0–1, or null when no case was registered today. */
  resolutionRate: number | null;
  at: number;
}

export const KPI_REFRESH_MS = 30_000;
/** How soon after a live event the figures are fetched again (events are coalesced). */
export const KPI_NUDGE_MS = 1_500;

/** Local midnight of today, as RFC 3339. */
function startOfToday(now: Date): string {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

export async function fetchKpi(unit: string, now = new Date()): Promise<WallKpi> {
  const from = startOfToday(now);
  const to = now.toISOString();
  const [report, cases] = await Promise.all([
    getKpi({ unit, from, to, coverage: false }),
    listCases({ unit, status: 'open', limit: 1 }),
  ]);
  const kpi = report.unit as unknown as Record<string, unknown>;
  const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
  return {
    unit,
    workersOnline: num(kpi['workers_online']),
    openCases: num(cases.total),
    overdue: num(kpi['overdue_now']),
    resolvedToday: num(kpi['resolved']),
    resolutionRate: typeof kpi['resolution_rate'] === 'number' ? kpi['resolution_rate'] : null,
    at: Date.now(),
  };
}

const TILES: Array<{ key: keyof WallKpi; label: MessageKey; tone?: string }> = [
  { key: 'workersOnline', label: 'wall.kpi.workersOnline', tone: 'good' },
  { key: 'openCases', label: 'wall.kpi.openCases' },
  { key: 'overdue', label: 'wall.kpi.overdue', tone: 'bad' },
  { key: 'resolvedToday', label: 'wall.kpi.resolvedToday' },
  { key: 'resolutionRate', label: 'wall.kpi.resolutionRate' },
];

function format(key: keyof WallKpi, kpi: WallKpi | undefined): string {
  if (!kpi) return '–';
  const v = kpi[key];
  if (key === 'resolutionRate') return typeof v === 'number' ? `${Math.round(v * 100)}%` : '–';
  return typeof v === 'number' ? v.toLocaleString('zh-CN') : '–';
}

/** Renders the KPI strip into `container` (call again on new figures or a language change). */
export function renderKpi(
  container: HTMLElement,
  unitName: string,
  kpi: WallKpi | undefined,
  failed: boolean,
): void {
  container.setAttribute('aria-label', t('wall.kpi.label', { unit: unitName }));
  const tiles = TILES.map(({ key, label, tone }) => {
    const value = format(key, kpi);
    const tile = el('div', { className: `wall-kpi__tile${tone ? ` wall-kpi__tile--${tone}` : ''}` }, [
      el('span', { className: 'wall-kpi__value', text: value, attrs: { 'data-kpi': key } }),
      el('span', { className: 'wall-kpi__label', text: t(label) }),
    ]);
    if (key === 'overdue' && kpi && kpi.overdue > 0) tile.classList.add('wall-kpi__tile--alarm');
    return tile;
  });
  const status = el('span', {
    className: `wall-kpi__status${failed ? ' wall-kpi__status--failed' : ''}`,
    text: failed
      ? t('wall.kpi.failed')
      : kpi
        ? t('wall.kpi.updated', { time: new Date(kpi.at).toLocaleTimeString('zh-CN', { hour12: false }) })
        : '',
  });
  container.replaceChildren(...tiles, status);
}

/**
 * The KPI header of the unit shown: fetched on a timer, and a moment after live case or
 * alert events (coalesced); a failure keeps the last figures and says so.
 */
export class KpiStrip {
  readonly element = el('section', { className: 'wall-kpi', attrs: { id: 'wall-kpi', role: 'status' } });
  kpi: WallKpi | undefined;
  private failed = false;
  private timer: number | undefined;
  private nudgeTimer: number | undefined;
  private disposed = false;

  /** `unit`: the unit shown now (its code and name), if any. */
  constructor(private readonly unit: () => { code: string; name: string } | undefined) {}

  render(): void {
    renderKpi(this.element, this.unit()?.name ?? '', this.kpi, this.failed);
  }

  /** Keeps the figures only if they are the new unit's. */
  forUnit(code: string): void {
    this.kpi = this.kpi?.unit === code ? this.kpi : undefined;
  }

  async refresh(): Promise<void> {
    const unit = this.unit();
    if (!unit) return;
    try {
      const next = await fetchKpi(unit.code);
      if (this.disposed || this.unit()?.code !== unit.code) return;
      this.kpi = next;
      this.failed = false;
    } catch (err) {
      if (this.disposed) return;
      console.error('Gridwall wall: KPIs', err);
      this.failed = true;
    }
    this.render();
  }

  /** (Re)starts the timer. */
  schedule(): void {
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => void this.refresh(), KPI_REFRESH_MS);
  }

  /** A live event: refresh soon, once for a burst. */
  nudge(): void {
    if (this.nudgeTimer !== undefined) return;
    this.nudgeTimer = window.setTimeout(() => {
      this.nudgeTimer = undefined;
      void this.refresh();
    }, KPI_NUDGE_MS);
  }

  dispose(): void {
    this.disposed = true;
    window.clearInterval(this.timer);
    window.clearTimeout(this.nudgeTimer);
  }
}
