// The wall's size factor: CSS in vw does the panels; this does what CSS cannot reach — the
// overlay's markers, rings and outlines, and the map's label sizes — and puts them back on
// unmount.

import type { ExpressionSpecification, Map as MapLibreMap } from 'maplibre-gl';

import { PULSE_FRAME_MS, type LiveOverlay } from '../live/overlay';
import { LEVELS, type Ramp } from '../map/levels';
import { layerIds } from '../map/style';

/** The wall's size factor: 1 up to a 1920-pixel-wide screen, 2 on a 3840 one. */
export function wallScale(width: number = window.innerWidth): number {
  return Math.min(3, Math.max(1, width / 1920));
}

function ramp(stops: Ramp, scale: number): number | ExpressionSpecification {
  const [first] = stops;
  if (stops.length === 1 && first) return first[1] * scale;
  const flat = stops.flatMap(([zoom, value]) => [zoom, value * scale]);
  return ['interpolate', ['linear'], ['zoom'], ...flat] as ExpressionSpecification;
}

export class WallScale {
  value = 1;
  private readonly labelSizes = new Map<string, unknown>();

  constructor(
    private readonly map: MapLibreMap,
    private readonly overlay: LiveOverlay,
  ) {}

  /** Sizes for the screen now: markers through the overlay, map labels by the same factor. */
  apply(): void {
    const { map } = this;
    const scale = wallScale();
    this.value = scale;
    document.documentElement.style.setProperty('--wall-scale', String(scale));
    // 10 frames a second carry a 1.6 s pulse well, and a 4K frame is four 1080p ones.
    this.overlay.configure({ scale, pulseOverdue: true, pulseFrameMs: scale > 1.5 ? 150 : 100 });
    for (const l of LEVELS) {
      const id = layerIds.label(l);
      if (!map.getLayer(id)) continue;
      if (!this.labelSizes.has(id)) this.labelSizes.set(id, map.getLayoutProperty(id, 'text-size'));
      map.setLayoutProperty(id, 'text-size', ramp(l.label.size, scale * 1.25));
    }
  }

  /** The overlay's and the labels' own sizes again. */
  restore(): void {
    this.overlay.configure({ scale: 1, pulseOverdue: false, pulseFrameMs: PULSE_FRAME_MS });
    for (const [id, size] of this.labelSizes) {
      if (this.map.getLayer(id)) this.map.setLayoutProperty(id, 'text-size', size as number);
    }
    document.documentElement.style.removeProperty('--wall-scale');
  }
}
