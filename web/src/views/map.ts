// The one-map page (`/`): the unit hierarchy with the legend and the unit panel (hover, click
// to pin), and the live workers, vehicles, cases and alerts on screen.

import { onLangChange } from '../i18n';
import { followViewport } from '../live/viewport';
import { bindUnitInteraction } from '../ui/interaction';
import { renderPanel, type PanelState } from '../ui/panel';
import type { MountView } from './types';

export const mountMap: MountView = (ctx) => {
  const panel = document.getElementById('unit-panel');
  const unfollow = followViewport(ctx.map, ctx.live, ['workers', 'vehicles', 'cases', 'alerts']);
  let state: PanelState = { unit: undefined, pinned: false };
  bindUnitInteraction(ctx.map, (next: PanelState) => {
    state = next;
    if (panel) renderPanel(panel, next);
  });
  const offLang = onLangChange(() => {
    if (panel) renderPanel(panel, state);
  });
  return () => {
    unfollow();
    offLang();
  };
};
