// The leader view's H3 layers, loaded on demand (dynamic import) so that the H3 code of
// deck.gl's geo-layers and h3-js stay out of the first load of the other views.
// Density: one hexagon per cell with cases, coloured by count. Coverage: a grid's cells,
// visited in one colour and unvisited in another.

import type { Layer } from '@deck.gl/core';
import { H3HexagonLayer } from '@deck.gl/geo-layers';

type Rgba = [number, number, number, number];

const DENSITY_RAMP: Rgba[] = [
  [255, 214, 102, 120],
  [255, 159, 67, 160],
  [255, 94, 58, 190],
  [232, 35, 72, 220],
];

function densityColor(count: number, max: number): Rgba {
  const t = max <= 1 ? 1 : Math.log(count) / Math.log(max);
  const i = Math.min(DENSITY_RAMP.length - 1, Math.max(0, Math.round(t * (DENSITY_RAMP.length - 1))));
  return DENSITY_RAMP[i] ?? [255, 94, 58, 190];
}

export interface CellCount {
  cell: string;
  count: number;
}

export function densityLayer(cells: readonly CellCount[]): Layer {
  const max = Math.max(1, ...cells.map((c) => c.count));
  return new H3HexagonLayer<CellCount>({
    id: 'leader-density',
    data: cells,
    getHexagon: (d) => d.cell,
    getFillColor: (d) => densityColor(d.count, max),
    getLineColor: [255, 236, 200, 200],
    lineWidthUnits: 'pixels',
    getLineWidth: 1,
    stroked: true,
    filled: true,
    extruded: false,
    pickable: false,
    updateTriggers: { getFillColor: [max] },
  });
}

export const VISITED_COLOR: Rgba = [47, 209, 139, 190];
export const UNVISITED_COLOR: Rgba = [255, 75, 75, 70];

interface CoverageCell {
  cell: string;
  visited: boolean;
}

export function coverageLayer(visited: readonly string[], unvisited: readonly string[]): Layer {
  const data: CoverageCell[] = [
    ...unvisited.map((cell) => ({ cell, visited: false })),
    ...visited.map((cell) => ({ cell, visited: true })),
  ];
  return new H3HexagonLayer<CoverageCell>({
    id: 'leader-coverage',
    data,
    getHexagon: (d) => d.cell,
    getFillColor: (d) => (d.visited ? VISITED_COLOR : UNVISITED_COLOR),
    getLineColor: [10, 22, 34, 160],
    lineWidthUnits: 'pixels',
    getLineWidth: 0.5,
    stroked: true,
    filled: true,
    extruded: false,
    highPrecision: 'auto',
    pickable: false,
  });
}
