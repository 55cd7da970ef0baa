// The candidates of the open case: the nearest available grid workers (name, own-grid tag,
// distance, walking time, open cases) with one button each that assigns the case, and
// whether the user may assign at all. The same candidates are drawn on the map (map.ts).

import type { Candidate, CaseDetail, User } from '../api';
import { t } from '../i18n';
import { el } from '../ui/dom';
import { distance } from './format';
import type { DispatchState } from './state';

/** Whether the user can assign a worker now (a reported case: accept and dispatch in one go). */
export function canAssign(d: CaseDetail, user: User): boolean {
  const a = d.allowed_actions;
  const dispatcher = user.role === 'admin' || user.role === 'dispatcher';
  return a.includes('dispatch') || a.includes('reassign') || (dispatcher && a.includes('accept') && d.status === 'reported');
}

/**
 * Only workers of the user's own territory: the server offers the nearest workers wherever
 * they belong, but would refuse to assign one from outside the territory.
 */
export function inTerritory(found: Candidate[], user: User): Candidate[] {
  const scope = user.scope?.code;
  return found.filter((c) => !scope || c.home_grid.startsWith(scope));
}

function candidateRow(c: Candidate, index: number, enabled: boolean, assign: (c: Candidate) => void): HTMLElement {
  const button = el('button', {
    className: 'dispatch__assign',
    text: `${index + 1} · ${t('dispatch.candidates.assign')}`,
    attrs: { type: 'button', 'data-candidate-id': String(c.id) },
  });
  button.disabled = !enabled;
  button.addEventListener('click', () => assign(c));
  return el('li', { className: 'dispatch__cand', attrs: { 'data-worker-id': String(c.id), 'data-home-grid': c.home_grid } }, [
    el('span', { className: 'dispatch__cand-n', text: String(index + 1) }),
    el('div', { className: 'dispatch__cand-body' }, [
      el('div', { className: 'dispatch__cand-name' }, [
        el('strong', { text: c.name }),
        ...(c.own_grid ? [el('span', { className: 'dispatch__tag', text: t('dispatch.candidates.own') })] : []),
      ]),
      el('div', { className: 'dispatch__cand-meta' }, [
        el('span', { className: 'dispatch__dist', text: distance(c.distance_m) }),
        el('span', { className: 'dispatch__walk', text: t('dispatch.candidates.walk', { n: Math.max(1, Math.round(c.walk_s / 60)) }) }),
        el('span', { text: t('dispatch.candidates.load', { n: c.open_cases }) }),
      ]),
    ]),
    button,
  ]);
}

/** The candidates section of the detail panel. */
export function candidatesSection(
  state: DispatchState,
  assignable: boolean,
  assign: (c: Candidate) => void,
): HTMLElement {
  const { candidates } = state;
  return el('section', { className: 'dispatch__section', attrs: { 'data-testid': 'candidates' } }, [
    el('h3', { text: t('dispatch.candidates.title') }),
    ...(candidates.length > 0
      ? [
          el(
            'ol',
            { className: 'dispatch__cands' },
            candidates.map((c, i) => candidateRow(c, i, !state.busy && assignable, assign)),
          ),
          el('p', { className: 'dispatch__hint', text: t('dispatch.candidates.hint') }),
        ]
      : [el('p', { className: 'dispatch__hint', text: state.candidatesNote ?? t('dispatch.detail.loading') })]),
  ]);
}
