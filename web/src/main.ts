// The page shell: the sign-in screen first (auth/), then the unit hierarchy from the server's
// vector tiles, the live socket (live/) with its deck.gl overlay, the signed-in user, the
// view switcher, the connection badge and a language toggle, and then the view the path names:
// `/` the one map (views/map.ts), `/wall` the wall (wall/), `/dispatch` the dispatcher's console
// (dispatch/), `/leader` the leader view (leader/). Everything exists only while a session
// does: when the server answers 401 to any data or tile request (or closes the socket with
// 4401), the view, socket and map are taken down and the sign-in screen comes back.

// MapLibre's stylesheet first, so the page's own rules win over it at equal specificity.
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';

import type { Map as MapLibreMap } from 'maplibre-gl';

import {
  ApiError,
  authFailure,
  currentSession,
  fetchUnitsTileJson,
  isUnauthorizedError,
  logout,
  onUnauthorized,
  reportUnauthorized,
  type Session,
} from './api';
import { showAccount } from './auth/account';
import { showLogin, type Message } from './auth/login';
import { openPasswordDialog } from './auth/password';
import { detectLang, isMessageKey, lang, onLangChange, setLang, t, type Lang } from './i18n';
import { mountDispatch } from './dispatch';
import { mountLeader } from './leader';
import { LiveClient } from './live/client';
import { LiveOverlay } from './live/overlay';
import { viewportSubscription } from './live/viewport';
import { createUnitsMap } from './map/create';
import { bindConnectionBadge } from './ui/connection';
import { publishLevelColors, renderLegend } from './ui/legend';
import { renderNav } from './ui/nav';
import { renderPanel, type PanelState } from './ui/panel';
import { mountMap } from './views/map';
import { viewOfPath, type MountView, type ViewName } from './views/types';
import { mountWall } from './wall';

const MOUNTS: Record<ViewName, MountView> = {
  map: mountMap,
  wall: mountWall,
  dispatch: mountDispatch,
  leader: mountLeader,
};

declare global {
  interface Window {
    /** The page's map, for browser tests and debugging in the console. */
    __gridwallMap?: MapLibreMap;
    /** The page's live state and overlay, for browser tests and the browser benchmark. */
    __gridwallLive?: { client: LiveClient; overlay: LiveOverlay; view: ViewName };
  }
}

const TILEJSON_URL = '/tiles/units.json';

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

/** Re-labels the static parts of the page (`data-i18n` elements, title, toggle). */
function relabelPage(current: Lang): void {
  document.documentElement.lang = current;
  document.title = t('app.title');
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    const key = el.dataset['i18n'] ?? '';
    if (isMessageKey(key)) el.textContent = t(key);
  }
  const toggle = element<HTMLButtonElement>('lang-toggle');
  toggle.textContent = t('lang.toggle');
  toggle.setAttribute('aria-label', t('lang.toggle.label'));
  toggle.lang = current === 'zh-CN' ? 'en' : 'zh-CN';
}

function bindLangToggle(): void {
  element<HTMLButtonElement>('lang-toggle').addEventListener('click', () => {
    const next: Lang = lang() === 'zh-CN' ? 'en' : 'zh-CN';
    setLang(next);
    const url = new URL(window.location.href);
    url.searchParams.set('lang', next);
    window.history.replaceState(window.history.state, '', url);
  });
}

function showError(message: string): void {
  const box = element('error');
  box.textContent = message;
  box.hidden = false;
}

function hideError(): void {
  const box = element('error');
  box.textContent = '';
  box.hidden = true;
}

/** `checking` until `/api/auth/me` has answered; the CSS shows the map only when `signed-in`. */
type AuthState = 'checking' | 'signed-out' | 'signed-in';

function setAuthState(state: AuthState): void {
  document.body.dataset['auth'] = state;
}

/** What exists while a user is signed in; taken down as a whole when the session ends. */
interface SignedIn {
  session: Session;
  map: MapLibreMap | undefined;
  live: LiveClient | undefined;
  overlay: LiveOverlay | undefined;
  unmountView: (() => void) | undefined;
  closeAccount: () => void;
  closeDialog: (() => void) | undefined;
  expiryTimer: number | undefined;
}

let signedIn: SignedIn | undefined;
const EMPTY_PANEL: PanelState = { unit: undefined, pinned: false };

/** Shows the sign-in screen, then the map once the server has accepted the user. */
async function signIn(options: { notice?: Message; username?: string } = {}): Promise<void> {
  setAuthState('signed-out');
  const session = await showLogin(element('login'), options);
  await enter(session);
}

/** Takes down everything of the signed-in state; returns the user name it belonged to. */
function leave(): string | undefined {
  const state = signedIn;
  if (!state) return undefined;
  signedIn = undefined;
  window.clearTimeout(state.expiryTimer);
  state.closeDialog?.();
  state.closeAccount();
  try {
    state.unmountView?.();
  } catch (err) {
    console.error('Gridwall: the view failed to unmount', err);
  }
  element('view').replaceChildren();
  state.overlay?.remove();
  state.live?.close();
  state.map?.remove();
  delete window.__gridwallMap;
  delete window.__gridwallLive;
  renderPanel(element('unit-panel'), EMPTY_PANEL);
  hideError();
  return state.session.user.username;
}

/** The session has ended (or was ended here): back to the sign-in screen with a notice. */
function sessionEnded(notice: Message, keepUsername: boolean): void {
  if (!signedIn) return;
  const username = leave();
  void signIn({ notice, ...(keepUsername && username ? { username } : {}) });
}

async function signOut(): Promise<void> {
  try {
    await logout();
  } catch (err) {
    const reason = err instanceof ApiError && err.status ? `HTTP ${err.status}` : String(err);
    console.error('Gridwall: sign-out failed', err);
    showError(t('auth.logoutFailed', { reason }));
    return;
  }
  sessionEnded({ key: 'auth.signedOut' }, false);
}

/**
 * Looks at the session again shortly after the time the server said it ends, so that a page
 * nobody touches still returns to the sign-in screen. (Idle expiry shows on the next request.)
 */
function scheduleExpiryCheck(state: SignedIn, expiresAt: string): void {
  const at = Date.parse(expiresAt);
  if (!Number.isFinite(at)) return;
  const delayMs = Math.min(Math.max(at - Date.now() + 1_000, 30_000), 2 ** 31 - 1);
  window.clearTimeout(state.expiryTimer);
  state.expiryTimer = window.setTimeout(() => {
    currentSession().then(
      (session) => {
        if (signedIn !== state) return;
        if (session) scheduleExpiryCheck(state, session.expires_at);
        else reportUnauthorized();
      },
      () => {
        // The server could not say; look again later rather than sign anyone out.
        if (signedIn === state) scheduleExpiryCheck(state, new Date(Date.now() + 60_000).toISOString());
      },
    );
  }, delayMs);
}

/** The signed-in page: the user in the header, then the map. */
async function enter(session: Session): Promise<void> {
  setAuthState('signed-in');
  const state: SignedIn = {
    session,
    map: undefined,
    live: undefined,
    overlay: undefined,
    unmountView: undefined,
    closeAccount: () => undefined,
    closeDialog: undefined,
    expiryTimer: undefined,
  };
  signedIn = state;
  state.closeAccount = showAccount(element('account'), session.user, {
    onLogout: signOut,
    onChangePassword: () => {
      state.closeDialog?.();
      state.closeDialog = openPasswordDialog(session.user, {
        onChanged: () => sessionEnded({ key: 'auth.passwordChanged' }, true),
        onUnauthorized: reportUnauthorized,
      });
    },
  });
  scheduleExpiryCheck(state, session.expires_at);

  let units;
  try {
    units = await fetchUnitsTileJson(TILEJSON_URL);
  } catch (err) {
    if (signedIn !== state) return; // a 401: the session has ended meanwhile
    const reason = err instanceof Error ? err.message : String(err);
    console.error('Gridwall: cannot load', TILEJSON_URL, err);
    showError(t('error.tilejson', { url: TILEJSON_URL, reason }));
    return;
  }
  if (signedIn !== state) return;

  const map = createUnitsMap({
    container: element('map'),
    // The server puts the user's territory into the tile URLs, so a browser that signs in as
    // someone else never draws the previous territory's tiles from its cache.
    units,
    // Keep the data clear of the header (top) and the legend (bottom left).
    padding: { top: 88, right: 56, bottom: 56, left: 208 },
    controlTexts: {
      'NavigationControl.ZoomIn': t('map.zoomIn'),
      'NavigationControl.ZoomOut': t('map.zoomOut'),
    },
  });
  state.map = map;
  window.__gridwallMap = map;

  // A listener replaces MapLibre's own console.error, so other errors are logged here.
  map.on('error', (event) => {
    if (isUnauthorizedError(event.error)) {
      if (signedIn === state) reportUnauthorized();
      return;
    }
    console.error(event.error);
  });

  // The socket starts with the first view of the map; the view then subscribes as it likes.
  const view = viewOfPath(window.location.pathname);
  const live = new LiveClient(viewportSubscription(map, ['workers', 'vehicles', 'cases', 'alerts']));
  state.live = live;
  const unbindBadge = bindConnectionBadge(element('conn'), live);
  map.once('load', () => {
    if (signedIn !== state) return;
    const overlay = new LiveOverlay(map, live);
    state.overlay = overlay;
    window.__gridwallLive = { client: live, overlay, view };
    try {
      const unmount = MOUNTS[view]({
        session,
        map,
        units,
        root: element('view'),
        live,
        overlay,
        showError,
      });
      state.unmountView = () => {
        unbindBadge();
        unmount();
      };
    } catch (err) {
      console.error('Gridwall: the view failed to start', err);
      showError(String(err));
    }
  });
}

async function start(): Promise<void> {
  setLang(detectLang(window.location.search, navigator.languages ?? [navigator.language]));
  publishLevelColors();
  bindLangToggle();
  const view = viewOfPath(window.location.pathname);
  document.body.dataset['view'] = view;
  renderNav(element('nav'), view);

  const legend = element('legend');
  onLangChange((current) => {
    relabelPage(current);
    renderLegend(legend);
  });
  onUnauthorized(() => sessionEnded({ key: 'auth.expired' }, true));

  setAuthState('checking');
  let session: Session | undefined;
  let notice: Message | undefined;
  try {
    session = await currentSession();
  } catch (err) {
    // Say why, but still offer the form: signing in tells more (and may work).
    console.error('Gridwall: cannot check the session', err);
    notice =
      err instanceof ApiError && authFailure(err) === 'server'
        ? { key: 'auth.server', params: { status: err.status ? `HTTP ${err.status}` : err.message } }
        : { key: 'auth.network' };
  }
  if (session) await enter(session);
  else await signIn(notice ? { notice } : {});
}

void start();
