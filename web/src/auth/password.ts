// The "change password" dialog: a native modal <dialog> (focus trap, Escape to close). The
// server ends every session of the user when the password changes, so success hands back to
// the page, which returns to the sign-in screen.

import { t, type MessageKey } from '../i18n';
import { el } from '../ui/dom';
import { ApiError, MIN_PASSWORD_LENGTH, authFailure, changePassword, minPasswordLength, type User } from '../api';
import type { Message } from './login';

export interface PasswordDialogActions {
  /** The password was changed (and every session ended). */
  onChanged: () => void;
  /** The session had already ended when the change was sent. */
  onUnauthorized: () => void;
}

function failureMessage(err: unknown, newPassword: string): Message {
  if (!(err instanceof ApiError)) return { key: 'auth.network' };
  switch (authFailure(err)) {
    case 'invalid_credentials':
      return { key: 'password.wrongCurrent' };
    case 'weak_password': {
      const min = minPasswordLength(err) ?? MIN_PASSWORD_LENGTH;
      return [...newPassword].length < min
        ? { key: 'password.tooShort', params: { min } }
        : { key: 'password.weak', params: { reason: err.message } };
    }
    case 'too_many_attempts':
      return err.retryAfterS === undefined
        ? { key: 'auth.tooManyAttemptsLater' }
        : { key: 'auth.tooManyAttempts', params: { seconds: err.retryAfterS } };
    case 'unauthorized':
      return { key: 'auth.expired' };
    case 'network':
      return { key: 'auth.network' };
    case 'server':
      return { key: 'auth.server', params: { status: err.status ? `HTTP ${err.status}` : err.message } };
  }
}

function passwordField(id: string, label: MessageKey, autocomplete: string) {
  const input = el('input', {
    className: 'field__input',
    attrs: { id, name: id, type: 'password', autocomplete, required: '', 'aria-describedby': 'password-error' },
  });
  const field = el('div', { className: 'field' }, [
    el('label', { className: 'field__label', text: t(label), attrs: { for: id } }),
    input,
  ]);
  return { input, field };
}

/** Opens the dialog over the page; returns a function that closes it (e.g. on sign-out). */
export function openPasswordDialog(user: User, actions: PasswordDialogActions): () => void {
  // For password managers: which account the new password belongs to.
  const account = el('input', {
    attrs: { type: 'text', name: 'username', autocomplete: 'username', hidden: '', readonly: '' },
  });
  account.value = user.username;
  const current = passwordField('password-current', 'password.current', 'current-password');
  const next = passwordField('password-new', 'password.new', 'new-password');
  const confirm = passwordField('password-confirm', 'password.confirm', 'new-password');
  next.input.minLength = MIN_PASSWORD_LENGTH;
  const hint = el('p', {
    className: 'dialog__hint',
    text: t('password.hint', { min: MIN_PASSWORD_LENGTH }),
  });
  const error = el('p', {
    className: 'form__error',
    attrs: { id: 'password-error', role: 'alert', 'aria-live': 'assertive' },
  });
  error.hidden = true;
  const cancel = el('button', {
    className: 'button',
    text: t('password.cancel'),
    attrs: { type: 'button', id: 'password-cancel' },
  });
  const submit = el('button', {
    className: 'button button--primary',
    text: t('password.submit'),
    attrs: { type: 'submit', id: 'password-submit' },
  });
  const form = el('form', { className: 'dialog__form', attrs: { method: 'dialog', novalidate: '' } }, [
    el('h2', { className: 'dialog__title', text: t('password.title'), attrs: { id: 'password-title' } }),
    account,
    current.field,
    next.field,
    confirm.field,
    hint,
    error,
    el('div', { className: 'dialog__actions' }, [cancel, submit]),
  ]);
  const dialog = el('dialog', {
    className: 'dialog',
    attrs: { id: 'password-dialog', 'aria-labelledby': 'password-title' },
  }, [form]);

  let pending = false;
  const showError = (message: Message | undefined, focus?: HTMLInputElement): void => {
    error.textContent = message ? t(message.key, message.params) : '';
    error.hidden = !message;
    focus?.focus();
  };
  const setPending = (on: boolean): void => {
    pending = on;
    submit.disabled = on;
    submit.textContent = t(on ? 'password.submitting' : 'password.submit');
    form.setAttribute('aria-busy', String(on));
  };

  const close = (): void => {
    if (dialog.open) dialog.close();
  };
  dialog.addEventListener('close', () => dialog.remove());
  // While a change is on its way, Escape must not drop the answer.
  dialog.addEventListener('cancel', (event) => {
    if (pending) event.preventDefault();
  });
  cancel.addEventListener('click', close);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (pending) return;
    const [cur, nw, again] = [current.input.value, next.input.value, confirm.input.value];
    if (cur === '' || nw === '' || again === '') {
      const empty = [current.input, next.input, confirm.input].find((i) => i.value === '');
      showError({ key: 'password.missing' }, empty);
      return;
    }
    if ([...nw].length < MIN_PASSWORD_LENGTH) {
      showError({ key: 'password.tooShort', params: { min: MIN_PASSWORD_LENGTH } }, next.input);
      return;
    }
    if (nw !== again) {
      showError({ key: 'password.mismatch' }, confirm.input);
      return;
    }
    if (nw === cur) {
      showError({ key: 'password.same' }, next.input);
      return;
    }
    showError(undefined);
    setPending(true);
    changePassword(cur, nw).then(
      () => {
        setPending(false);
        close();
        actions.onChanged();
      },
      (err: unknown) => {
        setPending(false);
        if (err instanceof ApiError && authFailure(err) === 'unauthorized') {
          close();
          actions.onUnauthorized();
          return;
        }
        const message = failureMessage(err, nw);
        showError(message, message.key === 'password.wrongCurrent' ? current.input : next.input);
      },
    );
  });

  document.body.append(dialog);
  dialog.showModal();
  current.input.focus();
  return close;
}
