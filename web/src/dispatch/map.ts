// The open case and its candidates on the map: a line from the case to each candidate, a ring
// on each, its number above it (deck.gl layers through `overlay.setExtraLayers`), and a view
// that fits the case and its candidates.

import type { Layer } from '@deck.gl/core';
import { LineLayer, ScatterplotLayer, TextLayer } from '@deck.gl/layers';
import type { Map as MapLibreMap } from 'maplibre-gl';

import type { Candidate } from '../api';
import type { LiveOverlay } from '../live/overlay';
import { bboxOfPoints } from '../map/bounds';
import type { DispatchState } from './state';

function candidateLayers(origin: [number, number], candidates: Candidate[]): Layer[] {
  return [
    new LineLayer<Candidate>({
      id: 'dispatch-candidate-lines',
      data: candidates,
      getSourcePosition: () => origin,
      getTargetPosition: (c) => c.position,
      getColor: [34, 227, 255, 190],
      getWidth: 2,
      widthUnits: 'pixels',
    }),
    new ScatterplotLayer<Candidate>({
      id: 'dispatch-candidates',
      data: candidates,
      getPosition: (c) => c.position,
      getFillColor: [34, 227, 255, 40],
      getLineColor: [34, 227, 255, 255],
      getRadius: 15,
      getLineWidth: 3,
      radiusUnits: 'pixels',
      lineWidthUnits: 'pixels',
      stroked: true,
      filled: true,
      // Pickable, so the rings can be found under the pointer (and by the browser tests).
      pickable: true,
    }),
    new TextLayer<Candidate>({
      id: 'dispatch-candidate-numbers',
      data: candidates.slice(0, 9),
      getPosition: (c) => c.position,
      getText: (_c, { index }) => String(index + 1),
      getSize: 16,
      getColor: [255, 255, 255, 255],
      getPixelOffset: [0, -26],
      characterSet: '123456789',
      fontWeight: 700,
      outlineWidth: 3,
      outlineColor: [4, 20, 28, 255],
      fontSettings: { sdf: true },
    }),
  ];
}

/** Draws the open case's candidates, or nothing when no case with candidates is open. */
export function drawCandidates(overlay: LiveOverlay, state: DispatchState): void {
  const d = state.detail;
  if (!d || state.selected !== d.id || state.candidates.length === 0) {
    overlay.setExtraLayers([]);
    return;
  }
  overlay.setExtraLayers(candidateLayers(d.position, state.candidates));
}

/** Fits the map to the open case and its candidates. */
export function fitCase(map: MapLibreMap, state: DispatchState): void {
  const { detail } = state;
  if (!detail) return;
  const points = [detail.position, ...state.candidates.map((c) => c.position)];
  const bounds = points.length < 2 ? undefined : bboxOfPoints(points);
  if (bounds) map.fitBounds(bounds, { padding: 80, maxZoom: 16, duration: 500 });
}
