// The legend of the four levels users work with (county → grid), drawn with the same
// colours and widths as the map. Colours reach CSS as custom properties set from levels.ts,
// so the legend needs no inline style attributes.

import { t, type MessageKey } from '../i18n';
import { LEGEND_LEVELS, LEVELS, type Level } from '../map/levels';

export function levelName(level: Level): string {
  return t(`level.${level}` satisfies MessageKey);
}

/** Publishes each level's colour as `--level-<key>` on the root element. */
export function publishLevelColors(root: HTMLElement = document.documentElement): void {
  for (const l of LEVELS) root.style.setProperty(`--level-${l.key}`, l.color);
}

/** Fills `container` with one row per level; call again to re-label after a language change. */
export function renderLegend(container: HTMLElement): void {
  const title = document.createElement('h2');
  title.className = 'legend__title';
  title.textContent = t('legend.title');

  const list = document.createElement('ul');
  list.className = 'legend__list';
  for (const l of LEGEND_LEVELS) {
    const item = document.createElement('li');
    item.className = `legend__item legend__item--${l.key}`;
    const swatch = document.createElement('span');
    swatch.className = `legend__swatch legend__swatch--${l.key}`;
    swatch.setAttribute('aria-hidden', 'true');
    const label = document.createElement('span');
    label.textContent = levelName(l.level);
    item.append(swatch, label);
    list.append(item);
  }
  container.replaceChildren(title, list);
}
