// The sign-in screen, shown instead of the map while there is no session. It resolves once the
// server accepts the credentials (the session cookie is then set) and takes itself down.
// Every text follows the UI language, also while the screen is open; a throttled sign-in
// counts down the server's Retry-After and keeps the button disabled until then.

import { onLangChange, t, type MessageKey } from '../i18n';
import { el } from '../ui/dom';
import { ApiError, authFailure, login, type Session } from '../api';

/** A message of the screen, kept as key and parameters so it can be re-translated. */
export interface Message {
  key: MessageKey;
  params?: Record<string, string | number>;
}

export interface LoginOptions {
  /** Shown above the form: why the user is here (session expired, signed out, …). */
  notice?: Message;
  /** Pre-filled user name, e.g. the user whose session just expired. */
  username?: string;
}

/** The message for a failed sign-in. */
export function loginFailureMessage(err: unknown): Message {
  if (!(err instanceof ApiError)) return { key: 'auth.network' };
  switch (authFailure(err)) {
    case 'invalid_credentials':
    case 'unauthorized':
      return { key: 'auth.invalidCredentials' };
    case 'too_many_attempts':
      return err.retryAfterS === undefined
        ? { key: 'auth.tooManyAttemptsLater' }
        : { key: 'auth.tooManyAttempts', params: { seconds: err.retryAfterS } };
    case 'network':
      return { key: 'auth.network' };
    case 'weak_password':
    case 'server':
      // 400: a user name the server cannot have (too long, …) is just a wrong one.
      if (err.status === 400) return { key: 'auth.invalidCredentials' };
      return { key: 'auth.server', params: { status: err.status ? `HTTP ${err.status}` : err.message } };
  }
}

/** The screen's elements (texts are set by its `render`). */
function loginCard(initialUsername: string) {
  const title = el('h2', { className: 'login__title', attrs: { id: 'login-title' } });
  const subtitle = el('p', { className: 'login__subtitle' });
  const notice = el('p', { className: 'login__notice', attrs: { id: 'login-notice', role: 'status' } });

  const usernameLabel = el('label', { className: 'field__label', attrs: { for: 'login-username' } });
  const username = el('input', {
    className: 'field__input',
    attrs: {
      id: 'login-username',
      name: 'username',
      type: 'text',
      autocomplete: 'username',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: '',
      'aria-describedby': 'login-error',
    },
  });
  username.value = initialUsername;
  const passwordLabel = el('label', { className: 'field__label', attrs: { for: 'login-password' } });
  const password = el('input', {
    className: 'field__input',
    attrs: {
      id: 'login-password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: '',
      'aria-describedby': 'login-error',
    },
  });
  const error = el('p', {
    className: 'form__error',
    attrs: { id: 'login-error', role: 'alert', 'aria-live': 'assertive' },
  });
  const submit = el('button', {
    className: 'button button--primary login__submit',
    attrs: { id: 'login-submit', type: 'submit' },
  });
  // `novalidate`: the empty-field message comes from us, in the UI language.
  const form = el(
    'form',
    { className: 'login__form', attrs: { id: 'login-form', method: 'post', novalidate: '' } },
    [
      el('div', { className: 'field' }, [usernameLabel, username]),
      el('div', { className: 'field' }, [passwordLabel, password]),
      error,
      submit,
    ],
  );
  const card = el(
    'section',
    { className: 'login__card', attrs: { 'aria-labelledby': 'login-title' } },
    [
      el('div', { className: 'login__head' }, [
        el('span', { className: 'login__emblem', attrs: { 'aria-hidden': 'true' } }),
        el('div', {}, [title, subtitle]),
      ]),
      notice,
      form,
    ],
  );

  return { card, form, title, subtitle, notice, usernameLabel, username, passwordLabel, password, error, submit };
}

/** Shows the sign-in screen in `container` until a sign-in succeeds. */
export function showLogin(container: HTMLElement, options: LoginOptions = {}): Promise<Session> {
  return new Promise((resolve) => {
    const { card, form, title, subtitle, notice, usernameLabel, username, passwordLabel, password, error, submit } =
      loginCard(options.username ?? '');

    let pending = false;
    let lockedUntil = 0;
    let countdown: number | undefined;
    let errorMessage: Message | undefined;

    const render = (): void => {
      title.textContent = t('auth.title');
      subtitle.textContent = t('auth.subtitle');
      usernameLabel.textContent = t('auth.username');
      passwordLabel.textContent = t('auth.password');
      notice.textContent = options.notice ? t(options.notice.key, options.notice.params) : '';
      notice.hidden = !options.notice;
      error.textContent = errorMessage ? t(errorMessage.key, errorMessage.params) : '';
      error.hidden = !errorMessage;
      for (const input of [username, password]) {
        input.setAttribute('aria-invalid', String(errorMessage?.key === 'auth.invalidCredentials'));
      }
      submit.textContent = t(pending ? 'auth.submitting' : 'auth.submit');
      submit.disabled = pending || lockedUntil > Date.now();
      form.setAttribute('aria-busy', String(pending));
    };

    const showError = (message: Message | undefined): void => {
      errorMessage = message;
      render();
    };

    /** Counts the throttle down once a second; the button comes back at zero. */
    const lockFor = (seconds: number): void => {
      window.clearInterval(countdown);
      lockedUntil = Date.now() + seconds * 1000;
      const tick = (): void => {
        const left = Math.ceil((lockedUntil - Date.now()) / 1000);
        if (left > 0) {
          showError({ key: 'auth.tooManyAttempts', params: { seconds: left } });
          return;
        }
        window.clearInterval(countdown);
        countdown = undefined;
        lockedUntil = 0;
        showError({ key: 'auth.tooManyAttemptsNow' });
      };
      tick();
      countdown = window.setInterval(tick, 1000);
    };

    const unsubscribe = onLangChange(render);

    const finish = (session: Session): void => {
      window.clearInterval(countdown);
      unsubscribe();
      container.replaceChildren();
      container.hidden = true;
      resolve(session);
    };

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (pending || lockedUntil > Date.now()) return;
      const name = username.value.trim();
      if (name === '' || password.value === '') {
        showError({ key: 'auth.missing' });
        (name === '' ? username : password).focus();
        return;
      }
      pending = true;
      showError(undefined);
      login(name, password.value).then(
        (session) => {
          password.value = '';
          finish(session);
        },
        (err: unknown) => {
          pending = false;
          const message = loginFailureMessage(err);
          if (err instanceof ApiError && authFailure(err) === 'too_many_attempts' && err.retryAfterS) {
            lockFor(err.retryAfterS);
          } else {
            showError(message);
          }
          if (!(err instanceof ApiError) || ['network', 'server'].includes(authFailure(err))) {
            console.warn('Gridwall: sign-in failed', err);
          }
          password.select();
          password.focus();
        },
      );
    });

    container.replaceChildren(card);
    container.hidden = false;
    (username.value === '' ? username : password).focus();
  });
}
