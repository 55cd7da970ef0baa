// The connection badge in the header: always visible, so nobody mistakes a frozen map for a
// quiet city. Green when live, amber while (re)connecting, red when the socket is closed.

import type { ConnectionState, LiveClient } from '../live/client';
import { onLangChange, t } from '../i18n';

/** Shows `live`'s state in `badge`; returns the unbinding. */
export function bindConnectionBadge(badge: HTMLElement, live: LiveClient): () => void {
  let state: ConnectionState = live.connection;
  const draw = (): void => {
    badge.dataset['state'] = state;
    badge.textContent = t(`conn.${state}`);
    badge.title = t('conn.title');
    badge.hidden = false;
  };
  const offState = live.onState((next) => {
    state = next;
    draw();
  });
  const offLang = onLangChange(draw);
  draw();
  return () => {
    offState();
    offLang();
    badge.hidden = true;
  };
}
