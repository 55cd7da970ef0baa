// The queue panel (left): the filters and the list of cases. Renders from the state; what the
// user does comes back through `QueueEvents` (a server-side filter changed: reload; the
// severity changed: render again; a row was clicked: open it).

import { CASE_STATUSES } from '../api';
import { lang, t } from '../i18n';
import { el } from '../ui/dom';
import { age, statusLabel } from './format';
import { compareQueue, matches, type QueueItem } from './queue';
import type { DispatchState } from './state';

export interface QueueEvents {
  /** A filter the server applies changed: load the list again. */
  reload: () => void;
  /** A client-side filter changed: render again. */
  rerender: () => void;
  pick: (id: number) => void;
}

export interface QueuePanel {
  element: HTMLElement;
  /** (Re)fills the filters' options and labels (categories loaded, language changed). */
  fill: () => void;
  /** Renders the rows; `scrollToCursor` brings the cursor's row into view. */
  render: (scrollToCursor?: boolean) => void;
  dispose: () => void;
}

export function categoryName(state: DispatchState, code: string): string {
  const c = state.categories.get(code);
  if (!c) return code;
  return lang() === 'en' ? c.name_en : c.name_zh;
}

function queueRow(state: DispatchState, item: QueueItem, events: QueueEvents): HTMLElement {
  const li = el(
    'li',
    {
      className: 'dispatch__item',
      attrs: {
        role: 'option',
        'data-case-id': String(item.id),
        'data-status': item.status,
        'data-overdue': String(item.overdue),
        'aria-selected': String(item.id === state.selected),
      },
    },
    [
      el('div', { className: 'dispatch__item-top' }, [
        el('span', { className: `dispatch__sev dispatch__sev--${item.severity}`, text: String(item.severity) }),
        el('span', { className: 'dispatch__item-title', text: item.title }),
        ...(item.overdue ? [el('span', { className: 'dispatch__overdue', text: t('dispatch.overdue') })] : []),
      ]),
      el('div', { className: 'dispatch__item-meta' }, [
        el('span', { className: `dispatch__status dispatch__status--${item.status}`, text: statusLabel(item.status) }),
        el('span', { text: categoryName(state, item.category) }),
        el('span', { className: 'dispatch__num', text: item.number }),
        el('span', { className: 'dispatch__age', text: age(item.created_at) }),
        ...(item.assignee_name ? [el('span', { className: 'dispatch__who', text: item.assignee_name })] : []),
      ]),
    ],
  );
  li.classList.toggle('is-cursor', item.id === state.cursor);
  li.addEventListener('click', () => {
    state.cursor = item.id;
    events.pick(item.id);
  });
  return li;
}

interface FilterControls {
  status: HTMLSelectElement;
  category: HTMLSelectElement;
  severity: HTMLSelectElement;
  overdue: HTMLInputElement;
  overdueLabel: HTMLElement;
  text: HTMLInputElement;
}

function fillFilters(state: DispatchState, f: FilterControls): void {
  const filter = state.filter;
  const status = filter.status;
  f.status.replaceChildren(
    el('option', { text: t('dispatch.filter.open'), attrs: { value: 'open' } }),
    ...CASE_STATUSES.map((s) => el('option', { text: statusLabel(s), attrs: { value: s } })),
  );
  f.status.value = status;
  f.status.title = t('dispatch.filter.status');
  f.category.replaceChildren(
    el('option', { text: `${t('dispatch.filter.category')}: ${t('dispatch.filter.all')}`, attrs: { value: '' } }),
    ...[...state.categories.values()].map((c) =>
      el('option', { text: lang() === 'en' ? c.name_en : c.name_zh, attrs: { value: c.code } }),
    ),
  );
  f.category.value = filter.category;
  f.category.title = t('dispatch.filter.category');
  f.severity.replaceChildren(
    el('option', { text: `${t('dispatch.filter.severity')}: ${t('dispatch.filter.all')}`, attrs: { value: '1' } }),
    ...[2, 3, 4].map((n) =>
      el('option', { text: t('dispatch.filter.severityMin', { n }), attrs: { value: String(n) } }),
    ),
  );
  f.severity.value = String(filter.minSeverity);
  f.severity.title = t('dispatch.filter.severity');
  f.overdueLabel.textContent = t('dispatch.filter.overdue');
  f.text.placeholder = t('dispatch.filter.text');
  f.text.setAttribute('aria-label', t('dispatch.filter.text'));
}

function bindFilters(state: DispatchState, f: FilterControls, events: QueueEvents): () => void {
  let textTimer: number | undefined;
  f.status.addEventListener('change', () => {
    state.filter.status = f.status.value;
    events.reload();
  });
  f.category.addEventListener('change', () => {
    state.filter.category = f.category.value;
    events.reload();
  });
  f.severity.addEventListener('change', () => {
    state.filter.minSeverity = Number(f.severity.value) || 1;
    events.rerender();
  });
  f.overdue.addEventListener('change', () => {
    state.filter.overdueOnly = f.overdue.checked;
    events.reload();
  });
  f.text.addEventListener('input', () => {
    window.clearTimeout(textTimer);
    textTimer = window.setTimeout(() => {
      state.filter.text = f.text.value;
      events.reload();
    }, 250);
  });
  return () => window.clearTimeout(textTimer);
}

export function createQueuePanel(state: DispatchState, events: QueueEvents): QueuePanel {
  const queueTitle = el('h2', { className: 'dispatch__title' });
  const queueCount = el('span', { className: 'dispatch__count', attrs: { 'data-testid': 'queue-count' } });
  const f: FilterControls = {
    status: el('select', { className: 'dispatch__select', attrs: { name: 'status' } }),
    category: el('select', { className: 'dispatch__select', attrs: { name: 'category' } }),
    severity: el('select', { className: 'dispatch__select', attrs: { name: 'severity' } }),
    overdue: el('input', { attrs: { type: 'checkbox', name: 'overdue' } }),
    overdueLabel: el('span'),
    text: el('input', { className: 'dispatch__search', attrs: { type: 'search', name: 'q', autocomplete: 'off' } }),
  };
  const list = el('ol', { className: 'dispatch__list', attrs: { role: 'listbox', tabindex: '0' } });
  const emptyQueue = el('p', { className: 'dispatch__empty' });
  const element = el('aside', { className: 'overlay dispatch__queue' }, [
    el('header', { className: 'dispatch__head' }, [queueTitle, queueCount]),
    el('div', { className: 'dispatch__filters' }, [
      f.status,
      f.category,
      f.severity,
      el('label', { className: 'dispatch__check' }, [f.overdue, f.overdueLabel]),
      f.text,
    ]),
    list,
    emptyQueue,
  ]);
  const dispose = bindFilters(state, f, events);

  const render = (scrollToCursor = false): void => {
    state.visible = [...state.items.values()].filter((i) => matches(i, state.filter)).sort(compareQueue);
    const { visible, listTotal, listLoaded } = state;
    if (state.cursor !== undefined && !visible.some((i) => i.id === state.cursor)) state.cursor = visible[0]?.id;
    queueCount.textContent =
      listTotal > listLoaded
        ? t('dispatch.queue.countOf', { n: visible.length, total: listTotal, loaded: listLoaded })
        : t('dispatch.queue.count', { n: visible.length });
    emptyQueue.textContent = t('dispatch.queue.empty');
    emptyQueue.hidden = visible.length > 0;
    list.replaceChildren(...visible.map((item) => queueRow(state, item, events)));
    if (scrollToCursor && state.cursor !== undefined) {
      list.querySelector(`[data-case-id="${state.cursor}"]`)?.scrollIntoView({ block: 'nearest' });
    }
  };

  const fill = (): void => {
    fillFilters(state, f);
    queueTitle.textContent = t('dispatch.queue.title');
    list.setAttribute('aria-label', t('dispatch.queue.label'));
  };

  return { element, fill, render, dispose };
}
