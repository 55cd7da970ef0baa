// A row of toggle buttons (the window chooser, the metric chooser): one pressed, a click picks.

import { el } from '../ui/dom';

export function segButtons<K extends string>(
  box: HTMLElement,
  keys: readonly K[],
  selected: K,
  label: (k: K) => string,
  onPick: (k: K) => void,
): void {
  box.replaceChildren(
    ...keys.map((k) => {
      const b = el('button', {
        className: 'leader__segbtn',
        text: label(k),
        attrs: { type: 'button', 'data-key': k, 'aria-pressed': String(k === selected) },
      });
      b.addEventListener('click', () => onPick(k));
      return b;
    }),
  );
}
