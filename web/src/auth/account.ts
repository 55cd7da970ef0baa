// The signed-in user in the header: display name, role and territory, with buttons to change
// the password and to sign out. Names come from the server, so they are set as text.

import { onLangChange, t, type MessageKey } from '../i18n';
import { el } from '../ui/dom';
import type { Role, User } from '../api';

export function roleName(role: Role): string {
  return t(`role.${role}` satisfies MessageKey);
}

export interface AccountActions {
  onChangePassword: () => void;
  /** Signs out; the button stays disabled until the returned promise settles. */
  onLogout: () => Promise<void>;
}

/** Fills `container` (in the header) for `user`; returns a function that empties it again. */
export function showAccount(container: HTMLElement, user: User, actions: AccountActions): () => void {
  const name = el('span', { className: 'account__name', text: user.display_name });
  name.title = user.username;
  const role = el('span', { className: 'account__role', attrs: { 'data-role': user.role } });
  const scope = el('span', { className: 'account__scope' });
  if (user.scope) scope.dataset['code'] = user.scope.code;
  const who = el('div', { className: 'account__who', attrs: { role: 'group' } }, [
    name,
    el('span', { className: 'account__meta' }, [role, scope]),
  ]);
  const password = el('button', {
    className: 'topbar__button',
    attrs: { id: 'password-open', type: 'button', 'aria-haspopup': 'dialog' },
  });
  const logout = el('button', {
    className: 'topbar__button topbar__button--logout',
    attrs: { id: 'logout', type: 'button' },
  });

  const render = (): void => {
    who.setAttribute('aria-label', t('auth.account.label'));
    role.textContent = roleName(user.role);
    scope.textContent = user.scope ? user.scope.name : t('auth.scope.all');
    password.textContent = t('password.open');
    logout.textContent = t('auth.logout');
  };

  password.addEventListener('click', () => actions.onChangePassword());
  logout.addEventListener('click', () => {
    logout.disabled = true;
    void actions.onLogout().finally(() => {
      logout.disabled = false;
    });
  });

  const unsubscribe = onLangChange(render);
  container.replaceChildren(who, password, logout);
  container.hidden = false;
  return () => {
    unsubscribe();
    container.replaceChildren();
    container.hidden = true;
  };
}
