// The view switcher in the header: one link per view, the current one marked. Plain links:
// each view is its own page load (the server answers every view path with index.html).

import { onLangChange, t } from '../i18n';
import { VIEWS, VIEW_PATHS, type ViewName } from '../views/types';
import { el } from './dom';

export function renderNav(nav: HTMLElement, current: ViewName): void {
  const draw = (): void => {
    nav.setAttribute('aria-label', t('nav.label'));
    const search = new URLSearchParams(window.location.search);
    const lang = search.get('lang');
    nav.replaceChildren(
      ...VIEWS.map((v) => {
        const href = VIEW_PATHS[v] + (lang ? `?lang=${encodeURIComponent(lang)}` : '');
        const a = el('a', {
          className: 'nav__link',
          text: t(`nav.${v}`),
          attrs: { href, 'data-view': v },
        });
        if (v === current) a.setAttribute('aria-current', 'page');
        return a;
      }),
    );
  };
  onLangChange(draw);
}
