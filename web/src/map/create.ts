// Creates the MapLibre map for the unit hierarchy. Shared by every view that shows units.

import { Map as MapLibreMap, NavigationControl, ScaleControl, setWorkerUrl } from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
// Vite emits the worker as a same-origin asset: no blob: or CDN worker is needed.
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';

import { LOCAL_IDEOGRAPH_FONT_FAMILY } from './fonts';
import { buildUnitsStyle } from './style';
import type { UnitsTileJson } from './tilejson';

setWorkerUrl(workerUrl);

export interface CreateUnitsMapOptions {
  container: HTMLElement;
  units: UnitsTileJson;
  /** Room in CSS pixels kept free of data at the initial view (overlays sit there). */
  padding?: { top: number; right: number; bottom: number; left: number };
  /** Texts of MapLibre's own controls (tooltips), keyed as MapLibre names them. */
  controlTexts?: Record<string, string>;
}

/** Opens a map on the units' bounds (or centre), with zoom buttons and a scale bar. */
export function createUnitsMap(options: CreateUnitsMapOptions): MapLibreMap {
  const { container, units } = options;
  const padding = options.padding ?? { top: 40, right: 40, bottom: 40, left: 40 };
  const [lng, lat, zoom] = units.center ?? [0, 0, units.minzoom];
  const map = new MapLibreMap({
    container,
    style: buildUnitsStyle(units),
    ...(units.bounds
      ? { bounds: units.bounds, fitBoundsOptions: { padding } }
      : { center: [lng, lat] as [number, number], zoom }),
    localIdeographFontFamily: LOCAL_IDEOGRAPH_FONT_FAMILY,
    ...(options.controlTexts ? { locale: options.controlTexts } : {}),
    attributionControl: false,
    dragRotate: false,
    pitchWithRotate: false,
    touchPitch: false,
    maxPitch: 0,
  });
  map.touchZoomRotate.disableRotation();
  map.keyboard.disableRotation();
  map.addControl(new NavigationControl({ showCompass: false }), 'bottom-right');
  map.addControl(new ScaleControl({ unit: 'metric' }), 'bottom-left');
  return map;
}
