// The dispatcher's console (调度台), mounted by the shell at /dispatch. Left: the case queue of
// the user's territory (filters; overdue first, then severity, then age), kept live from the
// socket's `cases` layer. Right: the selected case with its fields, its history, the actions
// the server allows, and the nearest available grid workers (list and map, one click or the
// keys 1–9 to assign). Every transition goes through `POST /api/cases/{id}/transition`; what
// the server refuses is shown with its code and message, never swallowed.
//
// The socket subscribes to the user's whole territory (by unit), not to the map's viewport:
// the queue must not lose cases when the map is panned.
//
// This file composes the parts: state.ts (what the console holds), controller.ts (what it
// does), queue-panel.ts and detail.ts (what it shows), map.ts, keyboard.ts.

import { onLangChange } from '../i18n';
import type { LayerName, Subscription } from '../live/client';
import { el } from '../ui/dom';
import type { MountView } from '../views/types';
import { DispatchController } from './controller';
import { createDetailPanel } from './detail';
import { bindKeyboard } from './keyboard';
import { createQueuePanel } from './queue-panel';
import { initialState } from './state';

const LAYERS: LayerName[] = ['workers', 'vehicles', 'cases', 'alerts'];
const CANDIDATE_REFRESH_MS = 15_000;

/** The subscription of the console: the whole territory. */
function territorySubscription(scope: { code: string } | null): Subscription {
  return scope
    ? { layers: LAYERS, unit: scope.code }
    : { layers: LAYERS, viewport: { bbox: [-180, -90, 180, 90] } };
}

export const mountDispatch: MountView = (ctx) => {
  const { map, live, overlay, session } = ctx;
  const user = session.user;
  const state = initialState();
  const control = new DispatchController({ state, map, live, overlay, user, showError: ctx.showError });
  const queue = createQueuePanel(state, {
    reload: () => void control.reloadList(),
    rerender: () => control.renderQueue(),
    pick: (id) => control.select(id),
  });
  const detail = createDetailPanel(state, user, {
    close: () => control.select(undefined),
    act: (a) => void control.act(a),
    assign: (c) => void control.assign(c),
  });
  control.queue = queue;
  control.detail = detail;
  const root = el('section', { className: 'dispatch', attrs: { 'data-testid': 'dispatch' } }, [
    queue.element,
    detail.element,
  ]);
  ctx.root.append(root);

  const unbindKeys = bindKeyboard(state, control, user);
  const offChange = live.onChange((change) => control.applyLive(change));
  live.subscribe(territorySubscription(user.scope));
  overlay.configure({
    pulse: false,
    selectedCase: () => state.selected,
    onPickCase: (c) => control.pickFromMap(c),
  });
  const candidateTimer = window.setInterval(() => control.refreshCandidates(), CANDIDATE_REFRESH_MS);
  const ageTimer = window.setInterval(() => control.renderQueue(), 60_000);
  const offLang = onLangChange(() => {
    queue.fill();
    detail.relabel();
    control.renderQueue();
    control.renderDetail();
  });

  void control.loadCategories();
  void control.reloadList();

  return () => {
    unbindKeys();
    offChange();
    offLang();
    window.clearInterval(candidateTimer);
    window.clearInterval(ageTimer);
    control.dispose();
    queue.dispose();
    overlay.setExtraLayers([]);
    overlay.configure({ pulse: true, selectedCase: () => undefined, onPickCase: () => undefined });
    root.remove();
  };
};
