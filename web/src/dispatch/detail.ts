// The detail panel (right): the open case's fields, the last refusal or notice, its
// candidates, its actions and its whole history (newest first). Renders from the state;
// clicks come back through `DetailEvents`.

import { errorText, type ApiError, type Candidate, type CaseAction, type CaseDetail, type CaseEvent, type User } from '../api';
import { lang, t } from '../i18n';
import { el } from '../ui/dom';
import { actionsSection, labelNote, noteField } from './actions';
import { canAssign, candidatesSection } from './candidates';
import { actionLabel, formatTime, sourceLabel, statusLabel } from './format';
import type { DispatchState } from './state';

export interface DetailEvents {
  close: () => void;
  act: (action: CaseAction) => void;
  assign: (c: Candidate) => void;
}

export interface DetailPanel {
  element: HTMLElement;
  note: HTMLTextAreaElement;
  render: () => void;
  /** Labels what is kept across renders (the note field) in the current language. */
  relabel: () => void;
}

function field(term: string, value: string, className = ''): HTMLElement[] {
  return [el('dt', { text: term }), el('dd', { className, text: value })];
}

/** A refusal as the server said it: `HTTP status · code: message`, and its details. */
function errorBox(e: ApiError): HTMLElement {
  const details = Object.keys(e.details).length > 0 ? JSON.stringify(e.details) : '';
  return el('div', { className: 'dispatch__error', attrs: { role: 'alert', 'data-code': e.code } }, [
    el('strong', { text: t('dispatch.error.title') }),
    el('p', { className: 'dispatch__error-msg', text: errorText(e) }),
    ...(details ? [el('code', { className: 'dispatch__error-details', text: details })] : []),
  ]);
}

function historyItem(ev: CaseEvent): HTMLElement {
  const extra: string[] = [];
  const d = ev.details;
  if (typeof d['assignee_name'] === 'string') extra.push(`→ ${d['assignee_name']}`);
  if (typeof d['to_unit'] === 'string') extra.push(`→ ${String(d['to_unit'])}`);
  return el('li', { className: 'dispatch__event', attrs: { 'data-action': ev.action, 'data-to': ev.to } }, [
    el('div', { className: 'dispatch__event-top' }, [
      el('strong', { text: actionLabel(ev.action) }),
      el('span', { text: ev.from ? `${statusLabel(ev.from)} → ${statusLabel(ev.to)}` : statusLabel(ev.to) }),
      el('time', { text: formatTime(ev.at), attrs: { datetime: ev.at } }),
    ]),
    el('div', { className: 'dispatch__event-meta', text: [ev.actor, ...extra].join(' ') }),
    ...(ev.note ? [el('div', { className: 'dispatch__event-note', text: ev.note })] : []),
  ]);
}

function detailHead(d: CaseDetail, close: () => void): HTMLElement {
  const closeBtn = el('button', {
    className: 'dispatch__x',
    text: '×',
    attrs: { type: 'button', 'aria-label': t('dispatch.detail.close'), title: t('dispatch.detail.close') },
  });
  closeBtn.addEventListener('click', close);
  return el('header', { className: 'dispatch__dhead' }, [
    el('div', {}, [
      el('div', { className: 'dispatch__num', text: d.number }),
      el('h2', { className: 'dispatch__dtitle', text: d.title }),
    ]),
    el('span', { className: `dispatch__status dispatch__status--${d.status}`, text: statusLabel(d.status), attrs: { 'data-testid': 'detail-status' } }),
    closeBtn,
  ]);
}

function detailFields(d: CaseDetail): HTMLElement {
  const lang_ = lang();
  return el('dl', { className: 'dispatch__fields' }, [
    ...field(t('dispatch.detail.category'), lang_ === 'en' ? d.category.name_en : d.category.name_zh),
    ...field(t('dispatch.detail.severity'), t('dispatch.severity', { n: d.severity })),
    ...field(t('dispatch.detail.source'), sourceLabel(d.source)),
    ...field(t('dispatch.detail.created'), formatTime(d.created_at)),
    ...field(
      t('dispatch.detail.deadline'),
      `${formatTime(d.deadline_at)}${d.overdue ? ` · ${t('dispatch.overdue')}` : ''}`,
      d.overdue ? 'is-overdue' : '',
    ),
    ...field(t('dispatch.detail.address'), d.address ?? '—'),
    ...field(t('dispatch.detail.grid'), `${d.grid.name} (${d.grid.code})`),
    ...field(t('dispatch.detail.handling'), `${d.handling_unit.name} (${d.handling_unit.code})`),
    ...field(t('dispatch.detail.reporter'), [d.reporter_name, d.reporter_phone].filter(Boolean).join(' · ') || '—'),
    ...field(t('dispatch.detail.assignee'), d.assignee?.name ?? '—', 'dispatch__assignee'),
    ...(d.duplicate_of ? field(t('dispatch.detail.duplicate'), d.duplicate_of.name) : []),
    ...(d.description ? field(t('dispatch.detail.description'), d.description) : []),
  ]);
}

function historySection(d: CaseDetail): HTMLElement {
  return el('section', { className: 'dispatch__section' }, [
    el('h3', { text: t('dispatch.history.title') }),
    el('ol', { className: 'dispatch__history', attrs: { 'data-testid': 'history' } }, [...d.history].reverse().map(historyItem)),
  ]);
}

/** The panel without a loaded case: a hint, or "loading" with the refusal if there was one. */
function renderPending(panel: HTMLElement, state: DispatchState): void {
  if (state.selected === undefined) {
    panel.replaceChildren(el('p', { className: 'dispatch__hint', text: t('dispatch.detail.empty') }));
    panel.dataset['state'] = 'empty';
    return;
  }
  panel.dataset['state'] = state.detailLoading ? 'loading' : 'error';
  panel.replaceChildren(
    el('p', { className: 'dispatch__hint', text: t('dispatch.detail.loading') }),
    ...(state.error ? [errorBox(state.error)] : []),
  );
}

export function createDetailPanel(state: DispatchState, user: User, events: DetailEvents): DetailPanel {
  const element = el('aside', {
    className: 'overlay dispatch__detail',
    attrs: { 'aria-live': 'polite', 'data-testid': 'case-detail' },
  });
  const note = noteField();

  const render = (): void => {
    const d = state.detail;
    if (state.selected === undefined || !d) {
      renderPending(element, state);
      return;
    }
    element.dataset['state'] = 'loaded';
    element.dataset['caseId'] = String(d.id);
    element.dataset['status'] = d.status;
    element.dataset['version'] = String(d.version);
    element.replaceChildren(
      detailHead(d, events.close),
      ...(state.error ? [errorBox(state.error)] : []),
      ...(state.notice ? [el('p', { className: 'dispatch__notice', text: state.notice, attrs: { role: 'status' } })] : []),
      detailFields(d),
      candidatesSection(state, canAssign(d, user), events.assign),
      actionsSection(d, note, state.busy, events.act),
      historySection(d),
    );
  };

  return { element, note, render, relabel: () => labelNote(note) };
}
