// The actions of the open case: a button for each action the server allows (dispatch and
// reassign go through the candidates) and one note field for the actions that need a reason;
// and the transitions themselves, each one `POST …/transition` with the version the console
// holds. A case still `reported` is accepted first when a candidate is assigned, so one click
// takes it on and dispatches it.

import { ApiError, transition, type Candidate, type CaseAction, type CaseDetail, type CaseView } from '../api';
import { t } from '../i18n';
import { el } from '../ui/dom';
import { actionLabel, statusLabel } from './format';

/** Actions offered as buttons (dispatch and reassign go through the candidates). */
const BUTTON_ACTIONS: readonly CaseAction[] = [
  'accept',
  'escalate',
  'follow_up',
  'close',
  'resolve',
  'reopen',
  'reject',
];

/** The note field; kept across re-renders, so what the dispatcher types survives live updates. */
export function noteField(): HTMLTextAreaElement {
  return el('textarea', { className: 'dispatch__note', attrs: { name: 'note', rows: '2' } });
}

export function labelNote(note: HTMLTextAreaElement): void {
  note.placeholder = t('dispatch.actions.note');
  note.setAttribute('aria-label', t('dispatch.actions.note'));
}

/** The actions section of the detail panel. */
export function actionsSection(
  d: CaseDetail,
  note: HTMLTextAreaElement,
  busy: boolean,
  act: (a: CaseAction) => void,
): HTMLElement {
  const actions = d.allowed_actions.filter((a) => BUTTON_ACTIONS.includes(a));
  const buttons = actions.map((a) => {
    const b = el('button', {
      className: `dispatch__act dispatch__act--${a}`,
      text: actionLabel(a),
      attrs: { type: 'button', 'data-action': a },
    });
    b.disabled = busy;
    b.addEventListener('click', () => act(a));
    return b;
  });
  return el('section', { className: 'dispatch__section' }, [
    el('h3', { text: t('dispatch.actions.title') }),
    ...(buttons.length > 0
      ? [note, el('div', { className: 'dispatch__buttons' }, buttons)]
      : [el('p', { className: 'dispatch__hint', text: t('dispatch.actions.none') })]),
    ...(busy ? [el('p', { className: 'dispatch__hint', text: t('dispatch.actions.busy') })] : []),
  ]);
}

/** One action with an optional note; `applied` sees the answer. Returns the notice to show. */
export async function runAction(
  d: CaseDetail,
  action: CaseAction,
  note: string,
  applied: (v: CaseView) => void,
): Promise<string> {
  const v = await transition(d.id, {
    action,
    version: d.version,
    ...(note ? { note } : {}),
  });
  applied(v);
  return t('dispatch.done.action', { action: actionLabel(action) });
}

/** Assigns a candidate: accept first if the case is still reported, then dispatch or reassign. */
export async function runAssign(d: CaseDetail, c: Candidate, applied: (v: CaseView) => void): Promise<string> {
  let version = d.version;
  let allowed = d.allowed_actions;
  if (d.status === 'reported' && allowed.includes('accept')) {
    const v = await transition(d.id, { action: 'accept', version });
    applied(v);
    version = v.version;
    allowed = v.allowed_actions;
  }
  const action: CaseAction | undefined = allowed.includes('dispatch')
    ? 'dispatch'
    : allowed.includes('reassign')
      ? 'reassign'
      : undefined;
  if (!action) {
    throw new ApiError(0, 'cannot_dispatch', t('dispatch.error.cannotAssign', { status: statusLabel(d.status) }), {
      allowed,
    });
  }
  const v = await transition(d.id, { action, version, assignee: c.id });
  applied(v);
  return t('dispatch.done.assigned', { name: c.name });
}
