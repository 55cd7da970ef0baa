// The unit panel: name, code and level of the unit under the pointer, or of the pinned one.
// Names come from data, so they are set as text, never as HTML.

import { t } from '../i18n';
import type { PickedUnit } from '../map/pick';
import { levelName } from './legend';

export interface PanelState {
  unit: PickedUnit | undefined;
  pinned: boolean;
}

function row(term: string, value: string, valueClass: string): HTMLElement[] {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.className = valueClass;
  dd.textContent = value;
  return [dt, dd];
}

export function renderPanel(container: HTMLElement, { unit, pinned }: PanelState): void {
  container.classList.toggle('panel--empty', !unit);
  container.classList.toggle('panel--pinned', pinned && !!unit);
  if (!unit) {
    const hint = document.createElement('p');
    hint.className = 'panel__hint';
    hint.textContent = t('panel.hint');
    container.replaceChildren(hint);
    return;
  }
  const list = document.createElement('dl');
  list.className = 'panel__unit';
  list.dataset['code'] = unit.code;
  list.dataset['level'] = String(unit.level);
  list.append(
    ...row(t('panel.name'), unit.name, 'panel__name'),
    ...row(t('panel.code'), unit.code, 'panel__code'),
    ...row(t('panel.level'), levelName(unit.level), 'panel__level'),
  );
  const children: HTMLElement[] = [list];
  if (pinned) {
    const note = document.createElement('p');
    note.className = 'panel__note';
    note.textContent = t('panel.pinned');
    children.push(note);
  }
  container.replaceChildren(...children);
}
