// The wall's right-hand column: a ticker of the latest alert and case events (newest first,
// from the live socket; seeded from the snapshots so it is never blank after a drill-down)
// and the open cases of the unit shown, overdue first, then by severity and age.

import { t, type MessageKey } from '../i18n';
import type { LiveAlert, LiveCase, LiveChange, LiveClient } from '../live/client';
import { el } from '../ui/dom';

export const TICKER_MAX = 30;
export const CASES_MAX = 40;

export interface TickerItem {
  key: string;
  kind: 'case' | 'alert';
  what: MessageKey;
  title: string;
  detail: string;
  at: number;
  /** `sos`, `overdue`, `alert`, `case`: its colour on the wall. */
  tone: string;
}

function caseItem(what: 'created' | 'changed' | 'closed', c: LiveCase, at: number): TickerItem {
  const label: MessageKey =
    what === 'created' ? 'wall.ticker.caseCreated' : what === 'closed' ? 'wall.ticker.caseClosed' : 'wall.ticker.caseChanged';
  return {
    key: `case-${c.id}-${c.version}-${what}`,
    kind: 'case',
    what: label,
    title: c.title,
    detail: `${c.number} · ${statusName(c.status)}`,
    at,
    tone: c.overdue ? 'overdue' : 'case',
  };
}

function alertItem(what: 'raised' | 'changed' | 'resolved', a: LiveAlert, at: number): TickerItem {
  const label: MessageKey =
    what === 'raised' ? 'wall.ticker.alertRaised' : what === 'resolved' ? 'wall.ticker.alertResolved' : 'wall.ticker.alertChanged';
  return {
    key: `alert-${a.id}-${a.version}-${what}`,
    kind: 'alert',
    what: label,
    title: a.title,
    detail: alertKindName(a.kind),
    at,
    tone: a.kind === 'sos' ? 'sos' : 'alert',
  };
}

export function alertKindName(kind: string): string {
  const key = `wall.alert.${kind}`;
  return /^wall\.alert\.(sos|offline|out_of_grid|stationary|overdue|hotspot|repeat_reporter)$/.test(key)
    ? t(key as MessageKey)
    : kind;
}

export function statusName(status: string): string {
  const key = `wall.status.${status}`;
  return isStatusKey(key) ? t(key) : status;
}

function isStatusKey(key: string): key is MessageKey {
  return /^wall\.status\.(reported|accepted|dispatched|in_progress|resolved|followed_up|closed|returned|escalated|rejected)$/.test(key);
}

/** The ticker's items, newest first. */
export class Ticker {
  items: TickerItem[] = [];

  /** After a snapshot: the latest of what the socket holds, newest first. */
  seed(live: LiveClient): void {
    const seeded: TickerItem[] = [];
    for (const c of live.cases.values()) seeded.push(caseItem('created', c, Date.parse(c.created_at) || 0));
    for (const a of live.alerts.values()) seeded.push(alertItem('raised', a, Date.parse(a.last_raised_at) || 0));
    seeded.sort((a, b) => b.at - a.at);
    this.items = seeded.slice(0, TICKER_MAX);
  }

  /** Live events go on top. */
  push(change: LiveChange): boolean {
    const now = Date.now();
    const fresh: TickerItem[] = [];
    for (const { what, item } of change.cases) fresh.push(caseItem(what, item, now));
    for (const { what, item } of change.alerts) fresh.push(alertItem(what, item, now));
    if (fresh.length === 0) return false;
    const keys = new Set(fresh.map((i) => i.key));
    this.items = [...fresh.reverse(), ...this.items.filter((i) => !keys.has(i.key))].slice(0, TICKER_MAX);
    return true;
  }
}

function clock(at: number): string {
  return at > 0 ? new Date(at).toLocaleTimeString('zh-CN', { hour12: false, hour: '2-digit', minute: '2-digit' }) : '';
}

export function renderTicker(container: HTMLElement, ticker: Ticker): void {
  const title = el('h2', { className: 'wall-box__title', text: t('wall.ticker.title') });
  if (ticker.items.length === 0) {
    container.replaceChildren(title, el('p', { className: 'wall-box__empty', text: t('wall.ticker.empty') }));
    return;
  }
  const list = el(
    'ol',
    { className: 'wall-ticker__list' },
    ticker.items.map((item) =>
      el('li', { className: `wall-ticker__item wall-ticker__item--${item.tone}`, attrs: { 'data-key': item.key, 'data-kind': item.kind } }, [
        el('span', { className: 'wall-ticker__time', text: clock(item.at) }),
        el('span', { className: 'wall-ticker__what', text: t(item.what) }),
        el('span', { className: 'wall-ticker__title', text: item.title }),
        el('span', { className: 'wall-ticker__detail', text: item.detail }),
      ]),
    ),
  );
  container.replaceChildren(title, list);
}

/** Open cases, overdue first, then more severe, then newer. */
export function openCases(live: LiveClient): LiveCase[] {
  return [...live.cases.values()].sort(
    (a, b) =>
      Number(b.overdue) - Number(a.overdue) ||
      b.severity - a.severity ||
      Date.parse(b.created_at) - Date.parse(a.created_at),
  );
}

export function renderCases(container: HTMLElement, live: LiveClient): void {
  const cases = openCases(live);
  const title = el('h2', { className: 'wall-box__title', text: t('wall.cases.title', { count: cases.length }) });
  if (cases.length === 0) {
    container.replaceChildren(title, el('p', { className: 'wall-box__empty', text: t('wall.cases.empty') }));
    return;
  }
  const list = el(
    'ol',
    { className: 'wall-cases__list' },
    cases.slice(0, CASES_MAX).map((c) => {
      const badges: HTMLElement[] = [
        el('span', { className: `wall-cases__status wall-cases__status--${c.status}`, text: statusName(c.status) }),
        el('span', { className: `wall-cases__sev wall-cases__sev--${c.severity}`, text: t('wall.cases.severity', { level: c.severity }) }),
      ];
      if (c.overdue) badges.unshift(el('span', { className: 'wall-cases__overdue', text: t('wall.cases.overdue') }));
      return el('li', { className: `wall-cases__item${c.overdue ? ' wall-cases__item--overdue' : ''}`, attrs: { 'data-case': String(c.id), 'data-number': c.number } }, [
        el('span', { className: 'wall-cases__title', text: c.title }),
        el('span', { className: 'wall-cases__meta' }, [el('span', { className: 'wall-cases__number', text: c.number }), ...badges]),
      ]);
    }),
  );
  container.replaceChildren(title, list);
}
