// The dispatcher's queue: one row per case, built from the list API or a live `cases` change,
// the filters applied again on the client (so a live change lands in or leaves the queue
// without a reload), and the queue order: overdue first, then the most severe, then the
// nearest deadline — the server's `order=queue`, so that the cases it loads (the most urgent
// ones) are the top of this order. Pure: no DOM, no fetch.

import type { LiveCase } from '../live/client';
import type { CaseView } from '../api';

export interface QueueItem {
  id: number;
  number: string;
  title: string;
  category: string;
  severity: number;
  status: string;
  overdue: boolean;
  position: [number, number];
  created_at: string;
  deadline_at: string;
  assignee: number | null;
  assignee_name: string | null;
  version: number;
}

export interface QueueFilter {
  /** `open` or one status. */
  status: string;
  /** Category code, or '' for every category. */
  category: string;
  /** Lowest severity shown (1 shows all). */
  minSeverity: number;
  overdueOnly: boolean;
  /** Number or title contains this (case-insensitive). */
  text: string;
}

export const DEFAULT_FILTER: QueueFilter = {
  status: 'open',
  category: '',
  minSeverity: 1,
  overdueOnly: false,
  text: '',
};

export function fromView(c: CaseView): QueueItem {
  return {
    id: c.id,
    number: c.number,
    title: c.title,
    category: c.category.code,
    severity: c.severity,
    status: c.status,
    overdue: c.overdue,
    position: c.position,
    created_at: c.created_at,
    deadline_at: c.deadline_at,
    assignee: c.assignee?.id ?? null,
    assignee_name: c.assignee?.name ?? null,
    version: c.version,
  };
}

/** A live change as a row; the assignee's name is kept from `held` when it is the same one. */
export function fromLive(c: LiveCase, held: QueueItem | undefined, nameOf: (id: number) => string | undefined): QueueItem {
  const sameAssignee = held && held.assignee === c.assignee;
  return {
    id: c.id,
    number: c.number,
    title: c.title,
    category: c.category,
    severity: c.severity,
    status: c.status,
    overdue: c.overdue,
    position: c.position,
    created_at: c.created_at,
    deadline_at: c.deadline_at,
    assignee: c.assignee,
    assignee_name:
      c.assignee === null ? null : sameAssignee ? held.assignee_name : (nameOf(c.assignee) ?? null),
    version: c.version,
  };
}

const CLOSED = new Set(['closed', 'rejected']);

export function matches(item: QueueItem, f: QueueFilter): boolean {
  if (f.status === 'open' ? CLOSED.has(item.status) : item.status !== f.status) return false;
  if (f.category && item.category !== f.category) return false;
  if (item.severity < f.minSeverity) return false;
  if (f.overdueOnly && !item.overdue) return false;
  const text = f.text.trim().toLowerCase();
  if (text && !item.number.toLowerCase().includes(text) && !item.title.toLowerCase().includes(text)) {
    return false;
  }
  return true;
}

/** Overdue first, then severity (4 first), then deadline (nearest first), then id. */
export function compareQueue(a: QueueItem, b: QueueItem): number {
  if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
  if (a.severity !== b.severity) return b.severity - a.severity;
  const ta = Date.parse(a.deadline_at);
  const tb = Date.parse(b.deadline_at);
  if (ta !== tb) return ta - tb;
  return a.id - b.id;
}
