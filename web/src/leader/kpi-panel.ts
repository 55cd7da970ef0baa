// The left column: title, breadcrumbs, window chooser and refresh, the current unit's KPIs and
// its cases by status, and for a grid its patrol coverage (figure, cell counts, cell key).

import type { CoverageReport, Kpi } from '../api';
import { isMessageKey, t, type MessageKey } from '../i18n';
import { Level } from '../map/levels';
import { el } from '../ui/dom';
import { levelName } from '../ui/legend';
import { duration, num, pct, WINDOW_KEYS, type WindowKey } from './format';
import { segButtons } from './segment';
import { currentUnit, type LeaderState, type UnitRef } from './state';

export interface KpiPanelEvents {
  /** A breadcrumb: go back up to the last unit of `path`. */
  goTo: (path: UnitRef[]) => void;
  pickWindow: (k: WindowKey) => void;
  refresh: () => void;
}

export interface KpiPanel {
  element: HTMLElement;
  /** Everything, in the current language. */
  render: () => void;
  renderKpi: () => void;
  renderCoverage: () => void;
}

const figure = (key: MessageKey, value: string, cls = ''): HTMLElement[] => [
  el('dt', { text: t(key) }),
  el('dd', { text: value, className: cls, attrs: { 'data-kpi': key.replace('leader.kpi.', '') } }),
];

function figuresOf(k: Kpi): HTMLElement[] {
  return [
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
  ];
}

function statusItems(k: Kpi): HTMLElement[] {
  const entries = Object.entries(k.cases_by_status).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return [el('li', { className: 'leader__dim', text: t('leader.status.none') })];
  return entries.map(([s, n]) => {
    const key = `leader.status.${s}`;
    return el('li', { attrs: { 'data-status': s } }, [
      el('span', { text: isMessageKey(key) ? t(key) : s }),
      el('b', { text: num(n) }),
    ]);
  });
}

function coverageParts(c: CoverageReport | undefined): HTMLElement[] {
  return [
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
  ];
}

function crumbButtons(path: UnitRef[], goTo: (path: UnitRef[]) => void): HTMLElement[] {
  return path.flatMap((u, i) => {
    const last = i === path.length - 1;
    const b = el('button', {
      className: 'leader__crumb',
      text: u.name,
      attrs: { type: 'button', 'data-code': u.code, ...(last ? { 'aria-current': 'page' } : {}) },
    });
    b.disabled = last;
    b.addEventListener('click', () => goTo(path.slice(0, i + 1)));
    return i === 0 ? [b] : [el('span', { className: 'leader__sep', text: '›' }), b];
  });
}

export function createKpiPanel(state: LeaderState, events: KpiPanelEvents): KpiPanel {
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
  const element = el('aside', { className: 'overlay leader-side', attrs: { 'aria-live': 'polite' } }, [
    title,
    crumbs,
    el('div', { className: 'leader__row' }, [windowSeg, refresh]),
    unitHead,
    figures,
    statusTitle,
    statusList,
    coverageBox,
  ]);
  refresh.addEventListener('click', () => events.refresh());

  const renderKpi = (): void => {
    const u = currentUnit(state);
    const k = state.report?.unit;
    unitHead.replaceChildren(
      el('span', { className: 'leader__unitname', text: u?.name ?? '' }),
      el('span', { className: 'leader__dim', text: u ? `${levelName(u.level)} · ${u.code}` : '' }),
    );
    if (!k) {
      figures.replaceChildren();
      statusList.replaceChildren();
      return;
    }
    figures.replaceChildren(...figuresOf(k));
    statusTitle.textContent = t('leader.status.title');
    statusList.replaceChildren(...statusItems(k));
  };
  const renderCoverage = (): void => {
    coverageBox.hidden = currentUnit(state)?.level !== Level.Grid;
    if (!coverageBox.hidden) coverageBox.replaceChildren(...coverageParts(state.coverage));
  };
  const render = (): void => {
    title.textContent = t('leader.title');
    refresh.textContent = '⟳';
    refresh.title = t('leader.refresh');
    refresh.setAttribute('aria-label', t('leader.refresh'));
    segButtons(windowSeg, WINDOW_KEYS, state.windowKey, (k) => t(`leader.window.${k}`), events.pickWindow);
    crumbs.replaceChildren(...crumbButtons(state.path, events.goTo));
    renderKpi();
    renderCoverage();
  };
  return { element, render, renderKpi, renderCoverage };
}
