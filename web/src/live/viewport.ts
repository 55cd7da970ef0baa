// Keeps a viewport subscription in step with the map: after each pan or zoom settles, the
// socket is subscribed to what is on screen (with a margin, so short pans need no new
// snapshot).

import type { Map as MapLibreMap } from 'maplibre-gl';

import type { LayerName, LiveClient, Subscription } from './client';

/** The map's visible bounds grown by `margin` of their size on each side, clamped to the world. */
export function viewportOf(map: MapLibreMap, margin = 0.25): [number, number, number, number] {
  const b = map.getBounds();
  const w = b.getEast() - b.getWest();
  const h = b.getNorth() - b.getSouth();
  return [
    Math.max(-180, b.getWest() - w * margin),
    Math.max(-90, b.getSouth() - h * margin),
    Math.min(180, b.getEast() + w * margin),
    Math.min(90, b.getNorth() + h * margin),
  ];
}

export function viewportSubscription(map: MapLibreMap, layers: LayerName[]): Subscription {
  return { layers, viewport: { bbox: viewportOf(map), zoom: Math.round(map.getZoom()) } };
}

/** Subscribes `live` to the map's viewport now and after every move; returns the unbinding. */
export function followViewport(map: MapLibreMap, live: LiveClient, layers: LayerName[]): () => void {
  let current = viewportSubscription(map, layers);
  live.subscribe(current);
  const onMoveEnd = (): void => {
    const next = viewportSubscription(map, layers);
    if (
      'viewport' in current &&
      'viewport' in next &&
      inside(next.viewport.bbox, current.viewport.bbox, map)
    ) {
      return;
    }
    current = next;
    live.subscribe(next);
  };
  map.on('moveend', onMoveEnd);
  return () => map.off('moveend', onMoveEnd);
}

/** Whether the screen (without margin) is still inside the subscribed box at a similar zoom. */
function inside(
  _next: [number, number, number, number],
  held: [number, number, number, number],
  map: MapLibreMap,
): boolean {
  const b = map.getBounds();
  const within =
    b.getWest() >= held[0] && b.getSouth() >= held[1] && b.getEast() <= held[2] && b.getNorth() <= held[3];
  // Zoomed far in, a huge held box would carry needless resources: re-subscribe then too.
  const heldWidth = held[2] - held[0];
  const width = b.getEast() - b.getWest();
  return within && heldWidth < width * 4;
}
