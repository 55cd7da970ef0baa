// The console's keys (outside text fields): ↑/↓ move the cursor in the queue, Enter opens the
// case under it, 1–9 assign that candidate of the open case, Esc closes the detail.

import type { User } from '../api';
import { canAssign } from './candidates';
import type { DispatchController } from './controller';
import type { DispatchState } from './state';

/** Listens on the document; returns what stops listening. */
export function bindKeyboard(state: DispatchState, console_: DispatchController, user: User): () => void {
  const onKey = (e: KeyboardEvent): void => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target instanceof HTMLElement ? e.target : undefined;
    if (target?.closest('input, textarea, select, [contenteditable="true"]')) return;
    const { visible } = state;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (visible.length === 0) return;
      e.preventDefault();
      const i = visible.findIndex((v) => v.id === state.cursor);
      const next = e.key === 'ArrowDown' ? Math.min(visible.length - 1, i + 1) : Math.max(0, i - 1);
      state.cursor = visible[i < 0 ? 0 : next]?.id;
      console_.renderQueue(true);
    } else if (e.key === 'Enter') {
      if (target?.closest('button, a')) return;
      if (state.cursor !== undefined) {
        e.preventDefault();
        console_.select(state.cursor);
      }
    } else if (e.key === 'Escape') {
      console_.select(undefined);
    } else if (/^[1-9]$/.test(e.key)) {
      const c = state.candidates[Number(e.key) - 1];
      if (c && state.detail && canAssign(state.detail, user) && !state.busy) {
        e.preventDefault();
        void console_.assign(c);
      }
    }
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}
