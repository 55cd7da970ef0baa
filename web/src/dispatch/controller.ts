// What the console does: load the queue and merge live changes into it by version, open a
// case (detail, candidates, map), run transitions one at a time, and keep the panels and the
// map in step with the state. The panels only render; every change of state happens here.

import type { Map as MapLibreMap } from 'maplibre-gl';

import {
  asApiError,
  errorText,
  getCandidates,
  getCase,
  getCategories,
  listCases,
  type Candidate,
  type CaseAction,
  type CaseList,
  type CaseListQuery,
  type CaseView,
  type User,
} from '../api';
import { t } from '../i18n';
import type { LiveCase, LiveChange, LiveClient } from '../live/client';
import type { LiveOverlay } from '../live/overlay';
import { runAction, runAssign } from './actions';
import { inTerritory } from './candidates';
import type { DetailPanel } from './detail';
import { drawCandidates, fitCase } from './map';
import { fromLive, fromView, matches, type QueueFilter } from './queue';
import type { QueuePanel } from './queue-panel';
import type { DispatchState } from './state';

const CLOSED = new Set(['closed', 'rejected']);
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

export interface ControllerParts {
  state: DispatchState;
  map: MapLibreMap;
  live: LiveClient;
  overlay: LiveOverlay;
  user: User;
  showError: (message: string) => void;
}

export class DispatchController {
  queue: QueuePanel | undefined;
  detail: DetailPanel | undefined;
  private listSeq = 0;
  private detailSeq = 0;
  private listTimer: number | undefined;

  constructor(private readonly parts: ControllerParts) {}

  private get state(): DispatchState {
    return this.parts.state;
  }

  renderQueue(scrollToCursor = false): void {
    this.queue?.render(scrollToCursor);
  }

  renderDetail(): void {
    this.detail?.render();
  }

  /** Loads the queue; live changes that arrive meanwhile win over the answer where newer. */
  async reloadList(): Promise<void> {
    const { state } = this;
    const seq = ++this.listSeq;
    state.touched.clear();
    let answer: CaseList;
    try {
      answer = await listCases(queueQuery(state.filter));
    } catch (err) {
      if (seq !== this.listSeq) return;
      this.parts.showError(t('dispatch.error.load', { reason: errorText(err) }));
      return;
    }
    if (seq !== this.listSeq) return;
    state.listTotal = answer.total;
    state.listLoaded = answer.cases.length;
    const next = new Map(answer.cases.map((c) => [c.id, fromView(c)]));
    // What the socket said meanwhile is newer than the list (or missing from it).
    for (const [id, version] of state.touched) {
      const held = state.items.get(id);
      const got = next.get(id);
      if (held && held.version >= version && (!got || got.version < held.version)) {
        if (matches(held, state.filter)) next.set(id, held);
        else next.delete(id);
      }
    }
    state.items.clear();
    for (const [id, item] of next) state.items.set(id, item);
    this.renderQueue();
  }

  scheduleReload(): void {
    window.clearTimeout(this.listTimer);
    this.listTimer = window.setTimeout(() => void this.reloadList(), 300);
  }

  async loadCategories(): Promise<void> {
    try {
      const cats = await getCategories();
      this.state.categories = new Map(cats.map((c) => [c.code, c]));
    } catch (err) {
      console.warn('Gridwall dispatch: categories', err);
      return;
    }
    this.queue?.fill();
    this.detail?.relabel();
    this.renderQueue();
  }

  /** Opens a case (or closes the open one: `undefined`). */
  select(id: number | undefined): void {
    const { state, parts } = this;
    state.selected = id;
    state.error = undefined;
    state.notice = undefined;
    if (this.detail) this.detail.note.value = '';
    state.detail = undefined;
    state.candidates = [];
    state.candidatesNote = undefined;
    this.renderQueue();
    drawCandidates(parts.overlay, state);
    const item = id === undefined ? undefined : state.items.get(id);
    if (item) parts.map.easeTo({ center: item.position, zoom: Math.max(parts.map.getZoom(), 14), duration: 500 });
    if (id === undefined) {
      this.renderDetail();
      return;
    }
    state.detailLoading = true;
    this.renderDetail();
    void this.loadDetail(id, true);
  }

  /** Loads the open case and its candidates; `fit` moves the map to them. */
  async loadDetail(id: number, fit = false): Promise<void> {
    const { state } = this;
    const seq = ++this.detailSeq;
    try {
      const d = await getCase(id);
      if (seq !== this.detailSeq || state.selected !== id) return;
      state.detail = d;
      const row = fromView(d);
      if (matches(row, state.filter)) state.items.set(id, row);
      this.renderQueue();
      await this.loadCandidates(id, seq);
      if (seq !== this.detailSeq || state.selected !== id) return;
      if (fit) fitCase(this.parts.map, state);
    } catch (err) {
      if (seq !== this.detailSeq || state.selected !== id) return;
      state.error = asApiError(err);
    } finally {
      if (seq === this.detailSeq) {
        state.detailLoading = false;
        this.renderDetail();
        drawCandidates(this.parts.overlay, state);
      }
    }
  }

  private async loadCandidates(id: number, seq: number): Promise<void> {
    const { state } = this;
    const d = state.detail;
    if (!d || CLOSED.has(d.status) || d.status === 'resolved' || d.status === 'followed_up') {
      state.candidates = [];
      state.candidatesNote = t('dispatch.candidates.closed');
      return;
    }
    try {
      const found = inTerritory(await getCandidates(id), this.parts.user);
      if (seq !== this.detailSeq) return;
      state.candidates = found;
      state.candidatesNote = found.length === 0 ? t('dispatch.candidates.empty') : undefined;
    } catch (err) {
      if (seq !== this.detailSeq) return;
      state.candidates = [];
      const e = asApiError(err);
      state.candidatesNote = e.code === 'case_not_open' ? t('dispatch.candidates.closed') : `${e.code}: ${e.message}`;
    }
  }

  /** The timer's refresh of the open case's candidates (not while a transition runs). */
  refreshCandidates(): void {
    const { state } = this;
    const id = state.selected;
    if (id === undefined || !state.detail || state.busy) return;
    const seq = this.detailSeq;
    void this.loadCandidates(id, seq).then(() => {
      if (seq !== this.detailSeq || state.selected !== id || state.busy) return;
      this.renderDetail();
      drawCandidates(this.parts.overlay, state);
    });
  }

  /** Runs one transition (or two: accept, then dispatch); then reloads the open case. */
  private async run(id: number, work: () => Promise<string>): Promise<void> {
    const { state } = this;
    if (state.busy) return;
    state.busy = true;
    state.error = undefined;
    state.notice = undefined;
    this.renderDetail();
    try {
      state.notice = await work();
      if (this.detail) this.detail.note.value = '';
    } catch (err) {
      state.error = asApiError(err);
    } finally {
      state.busy = false;
    }
    if (state.selected === id) await this.loadDetail(id);
    else this.renderDetail();
  }

  /** A transition's answer: the row changes, or leaves the queue when it no longer matches. */
  private readonly applied = (v: CaseView): void => {
    const row = fromView(v);
    if (matches(row, this.state.filter)) this.state.items.set(v.id, row);
    else this.state.items.delete(v.id);
    this.renderQueue();
  };

  async act(action: CaseAction): Promise<void> {
    const d = this.state.detail;
    if (!d) return;
    const text = this.detail?.note.value.trim() ?? '';
    await this.run(d.id, () => runAction(d, action, text, this.applied));
  }

  async assign(c: Candidate): Promise<void> {
    const d = this.state.detail;
    if (!d) return;
    await this.run(d.id, () => runAssign(d, c, this.applied));
  }

  /** A change from the socket: merged into the queue by version; the open case reloaded if newer. */
  applyLive(change: LiveChange): void {
    const { state, parts } = this;
    if (change.snapshot && change.cases.length === 0 && !change.resources) this.scheduleReload();
    if (change.cases.length === 0) return;
    const nameOf = (id: number): string | undefined => parts.live.resources.get(id)?.name;
    let reloadSelected = false;
    for (const { item } of change.cases) {
      state.touched.set(item.id, item.version);
      const held = state.items.get(item.id);
      if (held && held.version > item.version) continue;
      const row = fromLive(item, held, nameOf);
      if (matches(row, state.filter)) state.items.set(item.id, row);
      else state.items.delete(item.id);
      if (item.id === state.selected && state.detail && item.version > state.detail.version) reloadSelected = true;
    }
    this.renderQueue();
    if (reloadSelected && state.selected !== undefined && !state.busy) void this.loadDetail(state.selected);
  }

  /** A case clicked on the map: opened, and put into the queue if it is not there. */
  pickFromMap(c: LiveCase): void {
    const { state, parts } = this;
    state.cursor = c.id;
    if (!state.items.has(c.id)) state.items.set(c.id, fromLive(c, undefined, (id) => parts.live.resources.get(id)?.name));
    this.select(c.id);
  }

  dispose(): void {
    window.clearTimeout(this.listTimer);
  }
}
