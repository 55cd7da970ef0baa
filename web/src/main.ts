// The one-map page (`/`): the unit hierarchy from the server's vector tiles, with a legend,
// a unit panel and a language toggle. Views for the wall, dispatch and leaders come later
// in their own folders and reuse map/ and i18n/.

// MapLibre's stylesheet first, so the page's own rules win over it at equal specificity.
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';

import type { Map as MapLibreMap } from 'maplibre-gl';

import { detectLang, isMessageKey, lang, onLangChange, setLang, t, type Lang } from './i18n';
import { createUnitsMap } from './map/create';
import { fetchUnitsTileJson } from './map/tilejson';
import { bindUnitInteraction } from './ui/interaction';
import { publishLevelColors, renderLegend } from './ui/legend';
import { renderPanel, type PanelState } from './ui/panel';

declare global {
  interface Window {
    /** The page's map, for browser tests and debugging in the console. */
    __gridwallMap?: MapLibreMap;
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

async function start(): Promise<void> {
  setLang(detectLang(window.location.search, navigator.languages ?? [navigator.language]));
  publishLevelColors();
  bindLangToggle();

  const legend = element('legend');
  const panel = element('unit-panel');
  let panelState: PanelState = { unit: undefined, pinned: false };
  onLangChange((current) => {
    relabelPage(current);
    renderLegend(legend);
    renderPanel(panel, panelState);
  });

  let units;
  try {
    units = await fetchUnitsTileJson(TILEJSON_URL);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    console.error('Gridwall: cannot load', TILEJSON_URL, err);
    showError(t('error.tilejson', { url: TILEJSON_URL, reason }));
    return;
  }

  const map = createUnitsMap({
    container: element('map'),
    units,
    // Keep the data clear of the header (top) and the legend (bottom left).
    padding: { top: 88, right: 56, bottom: 56, left: 208 },
    controlTexts: {
      'NavigationControl.ZoomIn': t('map.zoomIn'),
      'NavigationControl.ZoomOut': t('map.zoomOut'),
    },
  });
  window.__gridwallMap = map;

  bindUnitInteraction(map, (state) => {
    panelState = state;
    renderPanel(panel, state);
  });
}

void start();
