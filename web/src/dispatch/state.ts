// What the console holds: the queue (rows by id, the filters, the cursor), the open case with
// its candidates, and the outcome of the last action. One object, read by the components when
// they render and changed only by the controller (controller.ts).

import type { ApiError, Candidate, CaseDetail, Category } from '../api';
import { DEFAULT_FILTER, type QueueFilter, type QueueItem } from './queue';

export interface DispatchState {
  filter: QueueFilter;
  /** The queue's rows by case id (every row matching the filters, before the client-side ones). */
  items: Map<number, QueueItem>;
  /** Cases changed by the socket since the list request in flight started (id → version). */
  touched: Map<number, number>;
  categories: Map<string, Category>;
  /** The rows shown, in queue order. */
  visible: QueueItem[];
  cursor: number | undefined;
  selected: number | undefined;
  detail: CaseDetail | undefined;
  detailLoading: boolean;
  candidates: Candidate[];
  /** Why there are no candidates (closed case, none found, a refusal). */
  candidatesNote: string | undefined;
  error: ApiError | undefined;
  notice: string | undefined;
  /** A transition is in flight: buttons are disabled. */
  busy: boolean;
  // Cases matching the server-side filters when the list was loaded, and how many of them
  // (the most urgent) it holds: more than the limit match only in a busy territory.
  listTotal: number;
  listLoaded: number;
}

export function initialState(): DispatchState {
  return {
    filter: { ...DEFAULT_FILTER },
    items: new Map(),
    touched: new Map(),
    categories: new Map(),
    visible: [],
    cursor: undefined,
    selected: undefined,
    detail: undefined,
    detailLoading: false,
    candidates: [],
    candidatesNote: undefined,
    error: undefined,
    notice: undefined,
    busy: false,
    listTotal: 0,
    listLoaded: 0,
  };
}
