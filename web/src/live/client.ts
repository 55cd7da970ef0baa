// The live websocket client (`/ws`, docs/websocket.md): one socket per page, subscribed by
// viewport or by unit, holding everything the server says is visible now — resources
// (workers, vehicles), open cases and live alerts — and telling the views what changed.
//
// The socket is never trusted to stay up: on any loss the client reconnects with exponential
// backoff (1 s doubling to 30 s, with jitter) and sends its subscription again; the server
// then answers with fresh snapshots, which replace the whole set. A 4401 close (or a refused
// upgrade while the session is gone) means the session has ended: the page signs in again.

import { currentSession, reportUnauthorized } from '../api';

export type LayerName = 'workers' | 'vehicles' | 'cases' | 'alerts';
export type ResourceStatus = 'on_duty' | 'busy' | 'offline' | 'sos';

/** A worker or vehicle as the server sends it (`snapshot`, `delta.entered`). */
export interface LiveResource {
  id: number;
  position: [number, number];
  at: string;
  status: ResourceStatus[];
  grid: string | null;
  speed_mps: number | null;
  heading_deg: number | null;
  accuracy_m: number | null;
  battery_pct: number | null;
  kind: 'worker' | 'vehicle';
  name: string;
  plate: string | null;
}

/** An open case (`cases_snapshot`, `cases`). */
export interface LiveCase {
  id: number;
  number: string;
  title: string;
  category: string;
  source: string;
  severity: number;
  status: string;
  position: [number, number];
  grid: string | null;
  handling_unit: string;
  handling_level: number;
  assignee: number | null;
  taken: boolean;
  assigned_at: string | null;
  deadline_at: string;
  overdue: boolean;
  version: number;
  created_at: string;
  updated_at: string;
}

/** A live alert (`alerts_snapshot`, `alerts`). */
export interface LiveAlert {
  id: number;
  kind: string;
  severity: number;
  status: 'open' | 'acknowledged' | 'resolved';
  unit: string | null;
  position: [number, number] | null;
  entity_type: string;
  entity_id: string;
  title: string;
  raised_at: string;
  last_raised_at: string;
  occurrences: number;
  version: number;
}

export type Subscription =
  | { layers: LayerName[]; viewport: { bbox: [number, number, number, number]; zoom?: number } }
  | { layers: LayerName[]; unit: string };

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** What changed in one message, for views that react to events (tickers, sounds). */
export interface LiveChange {
  resources: boolean;
  /** Resources whose position or status changed, or that appeared (ids). */
  moved: number[];
  cases: Array<{ what: 'created' | 'changed' | 'closed'; item: LiveCase }>;
  alerts: Array<{ what: 'raised' | 'changed' | 'resolved'; item: LiveAlert }>;
  /** A snapshot replaced a whole set. */
  snapshot: boolean;
}

type Listener = (change: LiveChange) => void;
type StateListener = (state: ConnectionState) => void;

const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** After a 4401 close, how long the page has to end the session itself before it is reported. */
const SESSION_END_GRACE_MS = 1_500;

/** The page's one live connection and the state it keeps. */
export class LiveClient {
  readonly resources = new Map<number, LiveResource>();
  readonly cases = new Map<number, LiveCase>();
  readonly alerts = new Map<number, LiveAlert>();
  /** When the last resource message arrived (ms since epoch): markers older than this are stale. */
  lastMessageAt = 0;

  private socket: WebSocket | undefined;
  private subscription: Subscription;
  private state: ConnectionState = 'connecting';
  private attempt = 0;
  private retryTimer: number | undefined;
  private closed = false;
  private nextId = 1;
  private readonly listeners = new Set<Listener>();
  private readonly stateListeners = new Set<StateListener>();

  constructor(
    subscription: Subscription,
    private readonly url: string = defaultUrl(),
  ) {
    this.subscription = subscription;
    this.connect();
  }

  /** Current connection state. */
  get connection(): ConnectionState {
    return this.state;
  }

  /** Replaces the subscription; the server answers with fresh snapshots. */
  subscribe(subscription: Subscription): void {
    this.subscription = subscription;
    this.sendSubscription();
  }

  /** The subscription in force (or to be sent on the next connection). */
  get current(): Subscription {
    return this.subscription;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener: StateListener): () => void {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  /** Closes the socket for good (the view is leaving). */
  close(): void {
    this.closed = true;
    window.clearTimeout(this.retryTimer);
    this.socket?.close(1000, 'page closed');
    this.socket = undefined;
    this.setState('closed');
    this.listeners.clear();
    this.stateListeners.clear();
  }

  /**
   * Applies one server message as if it had come over the socket (also used by the browser
   * benchmark to feed synthetic deltas without a server).
   */
  apply(message: unknown): void {
    if (typeof message !== 'object' || message === null) return;
    const m = message as Record<string, unknown>;
    const change: LiveChange = { resources: false, moved: [], cases: [], alerts: [], snapshot: false };
    switch (m['type']) {
      case 'hello':
        this.sendSubscription();
        return;
      case 'snapshot': {
        this.resources.clear();
        for (const r of (m['resources'] as LiveResource[] | undefined) ?? []) {
          this.resources.set(r.id, r);
          change.moved.push(r.id);
        }
        change.resources = true;
        change.snapshot = true;
        this.lastMessageAt = Date.now();
        break;
      }
      case 'delta': {
        for (const r of (m['entered'] as LiveResource[] | undefined) ?? []) {
          this.resources.set(r.id, r);
          change.moved.push(r.id);
        }
        for (const mv of (m['moved'] as Array<Partial<LiveResource> & { id: number }> | undefined) ??
          []) {
          const prev = this.resources.get(mv.id);
          if (!prev) continue;
          this.resources.set(mv.id, { ...prev, ...mv });
          change.moved.push(mv.id);
        }
        for (const id of (m['left'] as number[] | undefined) ?? []) this.resources.delete(id);
        for (const id of (m['removed'] as number[] | undefined) ?? []) this.resources.delete(id);
        change.resources = true;
        this.lastMessageAt = Date.now();
        break;
      }
      case 'cases_snapshot': {
        this.cases.clear();
        for (const c of (m['cases'] as LiveCase[] | undefined) ?? []) this.cases.set(c.id, c);
        change.snapshot = true;
        break;
      }
      case 'cases': {
        for (const ch of (m['changes'] as Array<{ what: string; case: LiveCase }> | undefined) ?? []) {
          const held = this.cases.get(ch.case.id);
          if (held && held.version > ch.case.version) continue;
          if (ch.what === 'closed') this.cases.delete(ch.case.id);
          else this.cases.set(ch.case.id, ch.case);
          if (ch.what === 'created' || ch.what === 'changed' || ch.what === 'closed') {
            change.cases.push({ what: ch.what, item: ch.case });
          }
        }
        break;
      }
      case 'alerts_snapshot': {
        this.alerts.clear();
        for (const a of (m['alerts'] as LiveAlert[] | undefined) ?? []) this.alerts.set(a.id, a);
        change.snapshot = true;
        break;
      }
      case 'alerts': {
        for (const ch of (m['changes'] as Array<{ what: string; alert: LiveAlert }> | undefined) ??
          []) {
          const held = this.alerts.get(ch.alert.id);
          if (held && held.version > ch.alert.version) continue;
          if (ch.what === 'resolved') this.alerts.delete(ch.alert.id);
          else this.alerts.set(ch.alert.id, ch.alert);
          if (ch.what === 'raised' || ch.what === 'changed' || ch.what === 'resolved') {
            change.alerts.push({ what: ch.what, item: ch.alert });
          }
        }
        break;
      }
      case 'error':
        console.warn('Gridwall live:', m['code'], m['message']);
        return;
      default:
        return;
    }
    for (const listener of this.listeners) listener(change);
  }

  private connect(): void {
    if (this.closed) return;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      console.error('Gridwall live: cannot open the socket', err);
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket || typeof event.data !== 'string') return;
      let message: unknown;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if ((message as { type?: unknown }).type === 'hello') {
        this.attempt = 0;
        this.setState('live');
      }
      this.apply(message);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.closed) return;
      if (event.code === 4401) {
        // The session has ended. When the page ended it (sign-out, password change), the
        // page's own answer arrives about now and takes the view down, closing this client
        // and saying why; only a session that ended elsewhere is reported from here.
        this.setState('closed');
        window.setTimeout(() => {
          if (!this.closed) reportUnauthorized();
        }, SESSION_END_GRACE_MS);
        return;
      }
      this.retry();
    });
  }

  private retry(): void {
    if (this.closed) return;
    this.setState('reconnecting');
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => {
      // A refused upgrade looks like any lost connection; ask whether the session still is.
      if (this.attempt >= 2) {
        currentSession().then(
          (session) => {
            if (!session) {
              this.closed = true;
              this.setState('closed');
              reportUnauthorized();
            } else this.connect();
          },
          () => this.connect(),
        );
      } else this.connect();
    }, delay);
  }

  private sendSubscription(): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || this.state !== 'live') return;
    socket.send(JSON.stringify({ type: 'subscribe', id: this.nextId++, ...this.subscription }));
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }
}

function defaultUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/ws`;
}
