// The dispatcher's console (调度台), mounted by the shell at /dispatch. Left: the case queue of
// the user's territory (filters; overdue first, then severity, then age), kept live from the
// socket's `cases` layer. Right: the selected case with its fields, its history, the actions
// the server allows, and the nearest available grid workers (list and map, one click or the
// keys 1–9 to assign). Every transition goes through `POST /api/cases/{id}/transition`; what
// the server refuses is shown with its code and message, never swallowed.
//
// The socket subscribes to the user's whole territory (by unit), not to the map's viewport:
// the queue must not lose cases when the map is panned.

import { LineLayer, ScatterplotLayer, TextLayer } from '@deck.gl/layers';
import type { Layer } from '@deck.gl/core';

import { lang, onLangChange, t, type MessageKey } from '../i18n';
import type { LayerName, Subscription } from '../live/client';
import { el } from '../ui/dom';
import type { MountView } from '../views/types';
import {
  ApiError,
  CASE_STATUSES,
  asApiError,
  errorText,
  getCandidates,
  getCase,
  getCategories,
  listCases,
  transition,
  type Candidate,
  type CaseAction,
  type CaseDetail,
  type CaseEvent,
  type CaseList,
  type CaseListQuery,
  type CaseView,
  type Category,
} from '../api';
import { compareQueue, DEFAULT_FILTER, fromLive, fromView, matches, type QueueFilter, type QueueItem } from './queue';

const LAYERS: LayerName[] = ['workers', 'vehicles', 'cases', 'alerts'];
const CLOSED = new Set(['closed', 'rejected']);
/** Actions offered as buttons (dispatch and reassign go through the candidates). */
const BUTTON_ACTIONS: readonly CaseAction[] = [
  'accept',
  'escalate',
  'follow_up',
  'close',
  'resolve',
  'reopen',
  'reject',
];
const CANDIDATE_REFRESH_MS = 15_000;
/** Cases the queue loads at most: the most urgent, in the queue order. */
const QUEUE_LIMIT = 500;

/**
 * The queue's list request: the most urgent cases of the territory matching the server-side
 * filters (at most `QUEUE_LIMIT`, queue order); the answer says how many match in all.
 */
function queueQuery(filter: QueueFilter): CaseListQuery {
  const q = filter.text.trim();
  return {
    order: 'queue',
    limit: QUEUE_LIMIT,
    status: filter.status || 'open',
    ...(filter.category ? { category: filter.category } : {}),
    ...(filter.overdueOnly ? { overdue: true } : {}),
    ...(q ? { q } : {}),
  };
}

/** The subscription of the console: the whole territory. */
function territorySubscription(scope: { code: string } | null): Subscription {
  return scope
    ? { layers: LAYERS, unit: scope.code }
    : { layers: LAYERS, viewport: { bbox: [-180, -90, 180, 90] } };
}

function statusLabel(status: string): string {
  return (CASE_STATUSES as readonly string[]).includes(status)
    ? t(`dispatch.status.${status}` as MessageKey)
    : status;
}

function actionLabel(action: string): string {
  const key = `dispatch.action.${action}`;
  return key in ACTION_KEYS ? t(key as MessageKey) : action;
}

const ACTION_KEYS: Record<string, true> = Object.fromEntries(
  [
    'report',
    'overdue',
    'accept',
    'reject',
    'dispatch',
    'reassign',
    'take',
    'start',
    'decline',
    'return',
    'resolve',
    'follow_up',
    'close',
    'escalate',
    'reopen',
  ].map((a) => [`dispatch.action.${a}`, true]),
);

function sourceLabel(source: string): string {
  const known = ['patrol', 'hotline_12345', 'police_110', 'walk_in', 'other'];
  return known.includes(source) ? t(`dispatch.source.${source}` as MessageKey) : source;
}

function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang(), { hour12: false });
}

function age(iso: string): string {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60_000));
  if (minutes < 60) return t('dispatch.age.min', { n: minutes });
  if (minutes < 48 * 60) return t('dispatch.age.hour', { n: Math.round(minutes / 60) });
  return t('dispatch.age.day', { n: Math.round(minutes / 1440) });
}

function distance(m: number): string {
  return m < 1000
    ? t('dispatch.candidates.m', { n: Math.round(m) })
    : t('dispatch.candidates.km', { n: (m / 1000).toFixed(1) });
}

export const mountDispatch: MountView = (ctx) => {
  const { map, live, overlay, session } = ctx;
  const filter: QueueFilter = { ...DEFAULT_FILTER };
  const items = new Map<number, QueueItem>();
  /** Cases changed by the socket since the list request in flight started (id → version). */
  const touched = new Map<number, number>();
  let categories = new Map<string, Category>();
  let visible: QueueItem[] = [];
  let cursor: number | undefined;
  let selected: number | undefined;
  let detail: CaseDetail | undefined;
  let detailLoading = false;
  let candidates: Candidate[] = [];
  let candidatesNote: string | undefined;
  let error: ApiError | undefined;
  let notice: string | undefined;
  let busy = false;
  let listSeq = 0;
  // Cases matching the server-side filters when the list was loaded, and how many of them
  // (the most urgent) it holds: more than `QUEUE_LIMIT` match only in a busy territory.
  let listTotal = 0;
  let listLoaded = 0;
  let detailSeq = 0;
  let listTimer: number | undefined;
  let textTimer: number | undefined;

  // ---- DOM ----
  const root = el('section', { className: 'dispatch', attrs: { 'data-testid': 'dispatch' } });
  const queueTitle = el('h2', { className: 'dispatch__title' });
  const queueCount = el('span', { className: 'dispatch__count', attrs: { 'data-testid': 'queue-count' } });
  const statusSelect = el('select', { className: 'dispatch__select', attrs: { name: 'status' } });
  const categorySelect = el('select', { className: 'dispatch__select', attrs: { name: 'category' } });
  const severitySelect = el('select', { className: 'dispatch__select', attrs: { name: 'severity' } });
  const overdueBox = el('input', { attrs: { type: 'checkbox', name: 'overdue' } });
  const overdueLabel = el('span');
  const textInput = el('input', {
    className: 'dispatch__search',
    attrs: { type: 'search', name: 'q', autocomplete: 'off' },
  });
  const list = el('ol', { className: 'dispatch__list', attrs: { role: 'listbox', tabindex: '0' } });
  const emptyQueue = el('p', { className: 'dispatch__empty' });
  const queuePanel = el('aside', { className: 'overlay dispatch__queue' }, [
    el('header', { className: 'dispatch__head' }, [queueTitle, queueCount]),
    el('div', { className: 'dispatch__filters' }, [
      statusSelect,
      categorySelect,
      severitySelect,
      el('label', { className: 'dispatch__check' }, [overdueBox, overdueLabel]),
      textInput,
    ]),
    list,
    emptyQueue,
  ]);
  const detailPanel = el('aside', {
    className: 'overlay dispatch__detail',
    attrs: { 'aria-live': 'polite', 'data-testid': 'case-detail' },
  });
  // Kept across re-renders, so what the dispatcher types survives live updates.
  const note = el('textarea', { className: 'dispatch__note', attrs: { name: 'note', rows: '2' } });
  root.append(queuePanel, detailPanel);
  ctx.root.append(root);

  // ---- Filters ----
  function fillFilters(): void {
    const status = filter.status;
    statusSelect.replaceChildren(
      el('option', { text: t('dispatch.filter.open'), attrs: { value: 'open' } }),
      ...CASE_STATUSES.map((s) => el('option', { text: statusLabel(s), attrs: { value: s } })),
    );
    statusSelect.value = status;
    statusSelect.title = t('dispatch.filter.status');
    categorySelect.replaceChildren(
      el('option', { text: `${t('dispatch.filter.category')}: ${t('dispatch.filter.all')}`, attrs: { value: '' } }),
      ...[...categories.values()].map((c) =>
        el('option', { text: lang() === 'en' ? c.name_en : c.name_zh, attrs: { value: c.code } }),
      ),
    );
    categorySelect.value = filter.category;
    categorySelect.title = t('dispatch.filter.category');
    severitySelect.replaceChildren(
      el('option', { text: `${t('dispatch.filter.severity')}: ${t('dispatch.filter.all')}`, attrs: { value: '1' } }),
      ...[2, 3, 4].map((n) =>
        el('option', { text: t('dispatch.filter.severityMin', { n }), attrs: { value: String(n) } }),
      ),
    );
    severitySelect.value = String(filter.minSeverity);
    severitySelect.title = t('dispatch.filter.severity');
    overdueLabel.textContent = t('dispatch.filter.overdue');
    textInput.placeholder = t('dispatch.filter.text');
    textInput.setAttribute('aria-label', t('dispatch.filter.text'));
    queueTitle.textContent = t('dispatch.queue.title');
    list.setAttribute('aria-label', t('dispatch.queue.label'));
    note.placeholder = t('dispatch.actions.note');
    note.setAttribute('aria-label', t('dispatch.actions.note'));
  }

  statusSelect.addEventListener('change', () => {
    filter.status = statusSelect.value;
    void reloadList();
  });
  categorySelect.addEventListener('change', () => {
    filter.category = categorySelect.value;
    void reloadList();
  });
  severitySelect.addEventListener('change', () => {
    filter.minSeverity = Number(severitySelect.value) || 1;
    renderQueue();
  });
  overdueBox.addEventListener('change', () => {
    filter.overdueOnly = overdueBox.checked;
    void reloadList();
  });
  textInput.addEventListener('input', () => {
    window.clearTimeout(textTimer);
    textTimer = window.setTimeout(() => {
      filter.text = textInput.value;
      void reloadList();
    }, 250);
  });

  // ---- Queue ----
  async function reloadList(): Promise<void> {
    const seq = ++listSeq;
    touched.clear();
    let answer: CaseList;
    try {
      answer = await listCases(queueQuery(filter));
    } catch (err) {
      if (seq !== listSeq) return;
      ctx.showError(t('dispatch.error.load', { reason: err instanceof Error ? err.message : String(err) }));
      return;
    }
    if (seq !== listSeq) return;
    listTotal = answer.total;
    listLoaded = answer.cases.length;
    const next = new Map<number, QueueItem>();
    for (const c of answer.cases) next.set(c.id, fromView(c));
    // What the socket said meanwhile is newer than the list (or missing from it).
    for (const [id, version] of touched) {
      const held = items.get(id);
      const got = next.get(id);
      if (held && held.version >= version && (!got || got.version < held.version)) {
        if (matches(held, filter)) next.set(id, held);
        else next.delete(id);
      }
    }
    items.clear();
    for (const [id, item] of next) items.set(id, item);
    renderQueue();
  }

  function scheduleReload(): void {
    window.clearTimeout(listTimer);
    listTimer = window.setTimeout(() => void reloadList(), 300);
  }

  function categoryName(code: string): string {
    const c = categories.get(code);
    if (!c) return code;
    return lang() === 'en' ? c.name_en : c.name_zh;
  }

  function renderQueue(scrollToCursor = false): void {
    visible = [...items.values()].filter((i) => matches(i, filter)).sort(compareQueue);
    if (cursor !== undefined && !visible.some((i) => i.id === cursor)) cursor = visible[0]?.id;
    queueCount.textContent =
      listTotal > listLoaded
        ? t('dispatch.queue.countOf', { n: visible.length, total: listTotal, loaded: listLoaded })
        : t('dispatch.queue.count', { n: visible.length });
    emptyQueue.textContent = t('dispatch.queue.empty');
    emptyQueue.hidden = visible.length > 0;
    list.replaceChildren(
      ...visible.map((item) => {
        const li = el(
          'li',
          {
            className: 'dispatch__item',
            attrs: {
              role: 'option',
              'data-case-id': String(item.id),
              'data-status': item.status,
              'data-overdue': String(item.overdue),
              'aria-selected': String(item.id === selected),
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
              el('span', { text: categoryName(item.category) }),
              el('span', { className: 'dispatch__num', text: item.number }),
              el('span', { className: 'dispatch__age', text: age(item.created_at) }),
              ...(item.assignee_name ? [el('span', { className: 'dispatch__who', text: item.assignee_name })] : []),
            ]),
          ],
        );
        li.classList.toggle('is-cursor', item.id === cursor);
        li.addEventListener('click', () => {
          cursor = item.id;
          select(item.id);
        });
        return li;
      }),
    );
    if (scrollToCursor && cursor !== undefined) {
      list.querySelector(`[data-case-id="${cursor}"]`)?.scrollIntoView({ block: 'nearest' });
    }
  }

  // ---- Detail ----
  function select(id: number | undefined): void {
    selected = id;
    error = undefined;
    notice = undefined;
    note.value = '';
    detail = undefined;
    candidates = [];
    candidatesNote = undefined;
    renderQueue();
    drawMap();
    const item = id === undefined ? undefined : items.get(id);
    if (item) map.easeTo({ center: item.position, zoom: Math.max(map.getZoom(), 14), duration: 500 });
    if (id === undefined) {
      renderDetail();
      return;
    }
    detailLoading = true;
    renderDetail();
    void loadDetail(id, true);
  }

  async function loadDetail(id: number, fit = false): Promise<void> {
    const seq = ++detailSeq;
    try {
      const d = await getCase(id);
      if (seq !== detailSeq || selected !== id) return;
      detail = d;
      const row = fromView(d);
      if (matches(row, filter)) items.set(id, row);
      renderQueue();
      await loadCandidates(id, seq);
      if (seq !== detailSeq || selected !== id) return;
      if (fit) fitCase();
    } catch (err) {
      if (seq !== detailSeq || selected !== id) return;
      error = asApiError(err);
    } finally {
      if (seq === detailSeq) {
        detailLoading = false;
        renderDetail();
        drawMap();
      }
    }
  }

  async function loadCandidates(id: number, seq: number): Promise<void> {
    if (!detail || CLOSED.has(detail.status) || detail.status === 'resolved' || detail.status === 'followed_up') {
      candidates = [];
      candidatesNote = t('dispatch.candidates.closed');
      return;
    }
    try {
      // Only workers of the user's own territory: the server offers the nearest workers
      // wherever they belong, but would refuse to assign one from outside the territory.
      const scope = session.user.scope?.code;
      const found = (await getCandidates(id)).filter((c) => !scope || c.home_grid.startsWith(scope));
      if (seq !== detailSeq) return;
      candidates = found;
      candidatesNote = found.length === 0 ? t('dispatch.candidates.empty') : undefined;
    } catch (err) {
      if (seq !== detailSeq) return;
      candidates = [];
      const e = asApiError(err);
      candidatesNote = e.code === 'case_not_open' ? t('dispatch.candidates.closed') : `${e.code}: ${e.message}`;
    }
  }

  function fitCase(): void {
    if (!detail) return;
    const points = [detail.position, ...candidates.map((c) => c.position)];
    if (points.length < 2) return;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    map.fitBounds(
      [
        [Math.min(...xs), Math.min(...ys)],
        [Math.max(...xs), Math.max(...ys)],
      ],
      { padding: 80, maxZoom: 16, duration: 500 },
    );
  }

  function field(term: string, value: string, className = ''): HTMLElement[] {
    return [el('dt', { text: term }), el('dd', { className, text: value })];
  }

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

  function candidateRow(c: Candidate, index: number, canAssign: boolean): HTMLElement {
    const button = el('button', {
      className: 'dispatch__assign',
      text: `${index + 1} · ${t('dispatch.candidates.assign')}`,
      attrs: { type: 'button', 'data-candidate-id': String(c.id) },
    });
    button.disabled = busy || !canAssign;
    button.addEventListener('click', () => void assign(c));
    return el('li', { className: 'dispatch__cand', attrs: { 'data-worker-id': String(c.id), 'data-home-grid': c.home_grid } }, [
      el('span', { className: 'dispatch__cand-n', text: String(index + 1) }),
      el('div', { className: 'dispatch__cand-body' }, [
        el('div', { className: 'dispatch__cand-name' }, [
          el('strong', { text: c.name }),
          ...(c.own_grid ? [el('span', { className: 'dispatch__tag', text: t('dispatch.candidates.own') })] : []),
        ]),
        el('div', { className: 'dispatch__cand-meta' }, [
          el('span', { className: 'dispatch__dist', text: distance(c.distance_m) }),
          el('span', { className: 'dispatch__walk', text: t('dispatch.candidates.walk', { n: Math.max(1, Math.round(c.walk_s / 60)) }) }),
          el('span', { text: t('dispatch.candidates.load', { n: c.open_cases }) }),
        ]),
      ]),
      button,
    ]);
  }

  /** Whether the user can assign a worker now (a reported case: accept and dispatch in one go). */
  function canAssign(d: CaseDetail): boolean {
    const a = d.allowed_actions;
    const dispatcher = session.user.role === 'admin' || session.user.role === 'dispatcher';
    return a.includes('dispatch') || a.includes('reassign') || (dispatcher && a.includes('accept') && d.status === 'reported');
  }

  function renderDetail(): void {
    if (selected === undefined) {
      detailPanel.replaceChildren(el('p', { className: 'dispatch__hint', text: t('dispatch.detail.empty') }));
      detailPanel.dataset['state'] = 'empty';
      return;
    }
    const d = detail;
    if (!d) {
      detailPanel.dataset['state'] = detailLoading ? 'loading' : 'error';
      detailPanel.replaceChildren(
        el('p', { className: 'dispatch__hint', text: t('dispatch.detail.loading') }),
        ...(error ? [errorBox(error)] : []),
      );
      return;
    }
    detailPanel.dataset['state'] = 'loaded';
    detailPanel.dataset['caseId'] = String(d.id);
    detailPanel.dataset['status'] = d.status;
    detailPanel.dataset['version'] = String(d.version);
    const closeBtn = el('button', {
      className: 'dispatch__x',
      text: '×',
      attrs: { type: 'button', 'aria-label': t('dispatch.detail.close'), title: t('dispatch.detail.close') },
    });
    closeBtn.addEventListener('click', () => select(undefined));
    const head = el('header', { className: 'dispatch__dhead' }, [
      el('div', {}, [
        el('div', { className: 'dispatch__num', text: d.number }),
        el('h2', { className: 'dispatch__dtitle', text: d.title }),
      ]),
      el('span', { className: `dispatch__status dispatch__status--${d.status}`, text: statusLabel(d.status), attrs: { 'data-testid': 'detail-status' } }),
      closeBtn,
    ]);
    const lang_ = lang();
    const fields = el('dl', { className: 'dispatch__fields' }, [
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
    const actions = d.allowed_actions.filter((a) => BUTTON_ACTIONS.includes(a));
    const buttons = actions.map((a) => {
      const b = el('button', {
        className: `dispatch__act dispatch__act--${a}`,
        text: actionLabel(a),
        attrs: { type: 'button', 'data-action': a },
      });
      b.disabled = busy;
      b.addEventListener('click', () => void act(a));
      return b;
    });
    const actionsBox = el('section', { className: 'dispatch__section' }, [
      el('h3', { text: t('dispatch.actions.title') }),
      ...(buttons.length > 0
        ? [note, el('div', { className: 'dispatch__buttons' }, buttons)]
        : [el('p', { className: 'dispatch__hint', text: t('dispatch.actions.none') })]),
      ...(busy ? [el('p', { className: 'dispatch__hint', text: t('dispatch.actions.busy') })] : []),
    ]);
    const assignable = canAssign(d);
    const candBox = el('section', { className: 'dispatch__section', attrs: { 'data-testid': 'candidates' } }, [
      el('h3', { text: t('dispatch.candidates.title') }),
      ...(candidates.length > 0
        ? [
            el('ol', { className: 'dispatch__cands' }, candidates.map((c, i) => candidateRow(c, i, assignable))),
            el('p', { className: 'dispatch__hint', text: t('dispatch.candidates.hint') }),
          ]
        : [el('p', { className: 'dispatch__hint', text: candidatesNote ?? t('dispatch.detail.loading') })]),
    ]);
    const history = el('section', { className: 'dispatch__section' }, [
      el('h3', { text: t('dispatch.history.title') }),
      el('ol', { className: 'dispatch__history', attrs: { 'data-testid': 'history' } }, [...d.history].reverse().map(historyItem)),
    ]);
    detailPanel.replaceChildren(
      head,
      ...(error ? [errorBox(error)] : []),
      ...(notice ? [el('p', { className: 'dispatch__notice', text: notice, attrs: { role: 'status' } })] : []),
      fields,
      candBox,
      actionsBox,
      history,
    );
  }

  // ---- Transitions ----
  async function run(id: number, work: () => Promise<string>): Promise<void> {
    if (busy) return;
    busy = true;
    error = undefined;
    notice = undefined;
    renderDetail();
    try {
      notice = await work();
      note.value = '';
    } catch (err) {
      error = asApiError(err);
    } finally {
      busy = false;
    }
    if (selected === id) await loadDetail(id);
    else renderDetail();
  }

  function applied(v: CaseView): void {
    const row = fromView(v);
    if (matches(row, filter)) items.set(v.id, row);
    else items.delete(v.id);
    renderQueue();
  }

  async function act(action: CaseAction): Promise<void> {
    const d = detail;
    if (!d) return;
    const text = note.value.trim();
    await run(d.id, async () => {
      const v = await transition(d.id, {
        action,
        version: d.version,
        ...(text ? { note: text } : {}),
      });
      applied(v);
      return t('dispatch.done.action', { action: actionLabel(action) });
    });
  }

  async function assign(c: Candidate): Promise<void> {
    const d = detail;
    if (!d) return;
    await run(d.id, async () => {
      let version = d.version;
      let allowed = d.allowed_actions;
      // A case still reported is accepted first: one click takes it on and dispatches it.
      if (d.status === 'reported' && allowed.includes('accept')) {
        const v = await transition(d.id, { action: 'accept', version });
        applied(v);
        version = v.version;
        allowed = v.allowed_actions;
      }
      const action: CaseAction | undefined = allowed.includes('dispatch')
        ? 'dispatch'
        : allowed.includes('reassign')
          ? 'reassign'
          : undefined;
      if (!action) {
        throw new ApiError(0, 'cannot_dispatch', t('dispatch.error.cannotAssign', { status: statusLabel(d.status) }), {
          allowed,
        });
      }
      const v = await transition(d.id, { action, version, assignee: c.id });
      applied(v);
      return t('dispatch.done.assigned', { name: c.name });
    });
  }

  // ---- Map ----
  function drawMap(): void {
    const d = detail;
    if (!d || selected !== d.id || candidates.length === 0) {
      overlay.setExtraLayers([]);
      return;
    }
    const origin = d.position;
    const layers: Layer[] = [
      new LineLayer<Candidate>({
        id: 'dispatch-candidate-lines',
        data: candidates,
        getSourcePosition: () => origin,
        getTargetPosition: (c) => c.position,
        getColor: [34, 227, 255, 190],
        getWidth: 2,
        widthUnits: 'pixels',
      }),
      new ScatterplotLayer<Candidate>({
        id: 'dispatch-candidates',
        data: candidates,
        getPosition: (c) => c.position,
        getFillColor: [34, 227, 255, 40],
        getLineColor: [34, 227, 255, 255],
        getRadius: 15,
        getLineWidth: 3,
        radiusUnits: 'pixels',
        lineWidthUnits: 'pixels',
        stroked: true,
        filled: true,
        // Pickable, so the rings can be found under the pointer (and by the browser tests).
        pickable: true,
      }),
      new TextLayer<Candidate>({
        id: 'dispatch-candidate-numbers',
        data: candidates.slice(0, 9),
        getPosition: (c) => c.position,
        getText: (_c, { index }) => String(index + 1),
        getSize: 16,
        getColor: [255, 255, 255, 255],
        getPixelOffset: [0, -26],
        characterSet: '123456789',
        fontWeight: 700,
        outlineWidth: 3,
        outlineColor: [4, 20, 28, 255],
        fontSettings: { sdf: true },
      }),
    ];
    overlay.setExtraLayers(layers);
  }

  // ---- Keyboard ----
  function onKey(e: KeyboardEvent): void {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target instanceof HTMLElement ? e.target : undefined;
    if (target?.closest('input, textarea, select, [contenteditable="true"]')) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (visible.length === 0) return;
      e.preventDefault();
      const i = visible.findIndex((v) => v.id === cursor);
      const next = e.key === 'ArrowDown' ? Math.min(visible.length - 1, i + 1) : Math.max(0, i - 1);
      cursor = visible[i < 0 ? 0 : next]?.id;
      renderQueue(true);
    } else if (e.key === 'Enter') {
      if (target?.closest('button, a')) return;
      if (cursor !== undefined) {
        e.preventDefault();
        select(cursor);
      }
    } else if (e.key === 'Escape') {
      select(undefined);
    } else if (/^[1-9]$/.test(e.key)) {
      const c = candidates[Number(e.key) - 1];
      if (c && detail && canAssign(detail) && !busy) {
        e.preventDefault();
        void assign(c);
      }
    }
  }
  document.addEventListener('keydown', onKey);

  // ---- Live ----
  const nameOf = (id: number): string | undefined => live.resources.get(id)?.name;
  const offChange = live.onChange((change) => {
    if (change.snapshot && change.cases.length === 0 && !change.resources) scheduleReload();
    if (change.cases.length === 0) return;
    let reloadSelected = false;
    for (const { item } of change.cases) {
      touched.set(item.id, item.version);
      const held = items.get(item.id);
      if (held && held.version > item.version) continue;
      const row = fromLive(item, held, nameOf);
      if (matches(row, filter)) items.set(item.id, row);
      else items.delete(item.id);
      if (item.id === selected && detail && item.version > detail.version) reloadSelected = true;
    }
    renderQueue();
    if (reloadSelected && selected !== undefined && !busy) void loadDetail(selected);
  });
  live.subscribe(territorySubscription(session.user.scope));
  overlay.configure({
    pulse: false,
    selectedCase: () => selected,
    onPickCase: (c) => {
      cursor = c.id;
      if (!items.has(c.id)) items.set(c.id, fromLive(c, undefined, nameOf));
      select(c.id);
    },
  });

  const candidateTimer = window.setInterval(() => {
    const id = selected;
    if (id === undefined || !detail || busy) return;
    const seq = detailSeq;
    void loadCandidates(id, seq).then(() => {
      if (seq !== detailSeq || selected !== id || busy) return;
      renderDetail();
      drawMap();
    });
  }, CANDIDATE_REFRESH_MS);
  const ageTimer = window.setInterval(() => renderQueue(), 60_000);

  const offLang = onLangChange(() => {
    fillFilters();
    renderQueue();
    renderDetail();
  });

  getCategories().then(
    (cats) => {
      categories = new Map(cats.map((c) => [c.code, c]));
      fillFilters();
      renderQueue();
    },
    (err: unknown) => console.warn('Gridwall dispatch: categories', err),
  );
  void reloadList();

  return () => {
    document.removeEventListener('keydown', onKey);
    offChange();
    offLang();
    window.clearInterval(candidateTimer);
    window.clearInterval(ageTimer);
    window.clearTimeout(listTimer);
    window.clearTimeout(textTimer);
    overlay.setExtraLayers([]);
    overlay.configure({ pulse: true, selectedCase: () => undefined, onPickCase: () => undefined });
    root.remove();
  };
};
