// The breadcrumbs (top left): the shown unit's path from the root, never above the user's
// scope; every step but the last goes back up. Outside the kiosk a hint says that clicking a
// child on the map drills down.

import { t } from '../i18n';
import { el } from '../ui/dom';
import type { WallUnit } from './units';

export function renderCrumbs(
  crumbs: HTMLElement,
  current: WallUnit | undefined,
  options: { scopeLevel: number; kiosk: boolean; onPick: (code: string) => void },
): void {
  crumbs.setAttribute('aria-label', t('wall.crumbs.label'));
  if (!current) {
    crumbs.replaceChildren();
    return;
  }
  const steps = current.path.filter((s) => s.level >= options.scopeLevel);
  if (steps.length === 0) steps.push({ code: current.code, name: current.name, level: current.level });
  const items = steps.map((s, i) => {
    const last = i === steps.length - 1;
    const node = last
      ? el('span', {
          className: 'wall-crumbs__here',
          text: s.name,
          attrs: { 'aria-current': 'page', 'data-code': s.code },
        })
      : el('button', {
          className: 'wall-crumbs__link',
          text: s.name,
          attrs: { type: 'button', 'data-code': s.code },
        });
    if (!last) node.addEventListener('click', () => options.onPick(s.code));
    return el('li', { className: 'wall-crumbs__item' }, [node]);
  });
  const hint =
    current.level < 4 && !options.kiosk
      ? [el('p', { className: 'wall-crumbs__hint', text: t('wall.crumbs.hint') })]
      : [];
  crumbs.replaceChildren(el('ol', { className: 'wall-crumbs__list' }, items), ...hint);
}
