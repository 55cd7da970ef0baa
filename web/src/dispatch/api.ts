// The case API the dispatch console uses (`/api/cases`, docs/cases.md): the queue, one case
// with its history, its candidates, and transitions. Every failure becomes a `CaseApiError`
// carrying the server's `{"error": {code, message, details}}` so the console can show it as is.

import { apiFetch } from '../auth/session';

export type CaseStatus =
  | 'reported'
  | 'accepted'
  | 'dispatched'
  | 'in_progress'
  | 'resolved'
  | 'followed_up'
  | 'closed'
  | 'returned'
  | 'escalated'
  | 'rejected';

export const CASE_STATUSES: readonly CaseStatus[] = [
  'reported',
  'accepted',
  'dispatched',
  'in_progress',
  'resolved',
  'followed_up',
  'closed',
  'returned',
  'escalated',
  'rejected',
];

export type CaseAction =
  | 'accept'
  | 'reject'
  | 'dispatch'
  | 'reassign'
  | 'take'
  | 'start'
  | 'decline'
  | 'return'
  | 'resolve'
  | 'follow_up'
  | 'close'
  | 'escalate'
  | 'reopen';

/** Actions that need a note (the reason, or what was done): server/src/cases/lifecycle.rs. */
export const NOTE_ACTIONS: ReadonlySet<CaseAction> = new Set([
  'reject',
  'decline',
  'return',
  'resolve',
  'follow_up',
  'escalate',
  'reopen',
]);

export interface UnitRef {
  code: string;
  name: string;
  level?: number;
}

export interface CaseView {
  id: number;
  number: string;
  title: string;
  description: string;
  category: { code: string; name_zh: string; name_en: string };
  source: string;
  severity: number;
  /** `[lng, lat]`, WGS84. */
  position: [number, number];
  address: string | null;
  grid: UnitRef;
  handling_unit: UnitRef;
  reporter_name: string | null;
  reporter_phone: string | null;
  status: CaseStatus;
  assignee: { id: number; name: string } | null;
  assigned_at: string | null;
  taken_at: string | null;
  deadline_at: string;
  overdue: boolean;
  overdue_at: string | null;
  duplicate_of: { id: number; name: string } | null;
  version: number;
  allowed_actions: CaseAction[];
  created_at: string;
  updated_at: string;
  resolved_at: string | null;
  closed_at: string | null;
}

export interface CaseEvent {
  at: string;
  version: number;
  action: string;
  from: string | null;
  to: string;
  actor: string;
  role: string | null;
  note: string | null;
  position: [number, number] | null;
  details: Record<string, unknown>;
}

export interface CaseDetail extends CaseView {
  history: CaseEvent[];
}

export interface Candidate {
  id: number;
  name: string;
  home_grid: string;
  own_grid: boolean;
  distance_m: number;
  walk_s: number;
  position: [number, number];
  at_ms: number;
  open_cases: number;
}

export interface Category {
  code: string;
  name_zh: string;
  name_en: string;
  sla_hours: number;
  active: boolean;
}

/** A refused request: the server's error code, message and details. */
export class CaseApiError extends Error {
  override name = 'CaseApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = {
    method,
    headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    cache: 'no-store',
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response: Response;
  try {
    response = await apiFetch(path, init);
  } catch (err) {
    throw new CaseApiError(0, 'network', err instanceof Error ? err.message : String(err), {});
  }
  let doc: unknown;
  try {
    doc = await response.json();
  } catch {
    doc = undefined;
  }
  if (!response.ok) {
    const e = isRecord(doc) && isRecord(doc['error']) ? doc['error'] : {};
    throw new CaseApiError(
      response.status,
      typeof e['code'] === 'string' ? e['code'] : `http_${response.status}`,
      typeof e['message'] === 'string' ? e['message'] : `HTTP ${response.status}`,
      isRecord(e['details']) ? e['details'] : {},
    );
  }
  return doc as T;
}

export interface ListQuery {
  status: string;
  category: string;
  overdue: boolean;
  q: string;
}

/** Cases the queue loads at most: the most urgent, in the queue order. */
export const QUEUE_LIMIT = 500;

/**
 * The queue: the most urgent cases of the territory matching the server-side filters (at most
 * `QUEUE_LIMIT`, queue order), and how many match in all.
 */
export async function listCases(query: ListQuery): Promise<{ total: number; cases: CaseView[] }> {
  const p = new URLSearchParams({ order: 'queue', limit: String(QUEUE_LIMIT) });
  p.set('status', query.status || 'open');
  if (query.category) p.set('category', query.category);
  if (query.overdue) p.set('overdue', 'true');
  if (query.q.trim()) p.set('q', query.q.trim());
  return call<{ total: number; cases: CaseView[] }>('GET', `/api/cases?${p.toString()}`);
}

export function getCase(id: number): Promise<CaseDetail> {
  return call<CaseDetail>('GET', `/api/cases/${id}`);
}

export async function getCandidates(id: number, k = 9, radiusM = 5_000): Promise<Candidate[]> {
  const answer = await call<{ candidates: Candidate[] }>(
    'GET',
    `/api/cases/${id}/candidates?k=${k}&radius_m=${radiusM}`,
  );
  return answer.candidates;
}

export async function getCategories(): Promise<Category[]> {
  const answer = await call<{ categories: Category[] }>('GET', '/api/case-categories');
  return answer.categories;
}

export interface TransitionBody {
  action: CaseAction;
  version: number;
  note?: string;
  assignee?: number;
}

export function transition(id: number, body: TransitionBody): Promise<CaseView> {
  return call<CaseView>('POST', `/api/cases/${id}/transition`, body);
}
