// The case API (`/api/cases`, docs/cases.md): lists (the dispatcher's queue, the wall's open
// count), one case with its history, its candidates, transitions, and the category list.
// Shapes follow server/src/http/cases.rs.

import { get, post, query } from './request';

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

export interface CaseListQuery {
  /** The territory's subtree to list (default: the user's whole territory). */
  unit?: string;
  /** `open` or one status. */
  status?: string;
  category?: string;
  overdue?: boolean;
  /** Number, title or address contains this. */
  q?: string;
  /** `queue`: overdue first, then severity, then deadline. */
  order?: 'queue';
  limit?: number;
}

export interface CaseList {
  /** How many cases match in all (the list holds at most `limit` of them). */
  total: number;
  cases: CaseView[];
}

/** `GET /api/cases`: the cases of the territory matching the query. */
export function listCases(q: CaseListQuery, signal?: AbortSignal): Promise<CaseList> {
  return get(`/api/cases?${query({ ...q })}`, signal);
}

export function getCase(id: number): Promise<CaseDetail> {
  return get(`/api/cases/${id}`);
}

/** The nearest available workers of a case (`k` of them within `radiusM` metres). */
export async function getCandidates(id: number, k = 9, radiusM = 5_000): Promise<Candidate[]> {
  const answer = await get<{ candidates: Candidate[] }>(`/api/cases/${id}/candidates?k=${k}&radius_m=${radiusM}`);
  return answer.candidates;
}

export async function getCategories(): Promise<Category[]> {
  const answer = await get<{ categories: Category[] }>('/api/case-categories');
  return answer.categories;
}

export interface TransitionBody {
  action: CaseAction;
  version: number;
  note?: string;
  assignee?: number;
}

/** `POST /api/cases/{id}/transition` with the version the caller holds. */
export function transition(id: number, body: TransitionBody): Promise<CaseView> {
  return post(`/api/cases/${id}/transition`, body);
}
