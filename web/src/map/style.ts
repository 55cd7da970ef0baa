// Builds the MapLibre style for the unit hierarchy: a dark background, one faint fill and
// one outline per level, a highlight outline driven by feature state, and point labels.
// Layer order matters: outlines are drawn grid first so county lines stay on top, and labels
// county last so that symbol placement (top layer first) keeps the coarser names.

import type {
  ExpressionSpecification,
  FilterSpecification,
  LayerSpecification,
  StyleSpecification,
} from 'maplibre-gl';

import { LABEL_FONT_BOLD, LABEL_FONT_REGULAR } from './fonts';
import { LABEL_SOURCE_LAYER, LEVELS, Level, type LevelStyle, type Ramp } from './levels';
import type { UnitsTileJson } from './tilejson';

/** The id of the vector source holding the unit tiles. */
export const UNITS_SOURCE = 'units';
export const BACKGROUND_COLOR = '#0b1622';
const HALO_COLOR = 'rgba(6, 14, 22, 0.92)';
const HIGHLIGHT_COLOR = '#ffffff';

export const layerIds = {
  fill: (l: LevelStyle): string => `units-fill-${l.key}`,
  line: (l: LevelStyle): string => `units-line-${l.key}`,
  highlight: (l: LevelStyle): string => `units-highlight-${l.key}`,
  label: (l: LevelStyle): string => `units-label-${l.key}`,
};

/** The fill layers, the ones hovering and clicking look at. */
export const FILL_LAYER_IDS: readonly string[] = LEVELS.map(layerIds.fill);
export const LABEL_LAYER_IDS: readonly string[] = LEVELS.map(layerIds.label);

function ramp(stops: Ramp, scale = 1, add = 0): number | ExpressionSpecification {
  const [first] = stops;
  if (stops.length === 1 && first) return first[1] * scale + add;
  const flat = stops.flatMap(([zoom, value]) => [zoom, value * scale + add]);
  return ['interpolate', ['linear'], ['zoom'], ...flat] as ExpressionSpecification;
}

const hovered: ExpressionSpecification = ['boolean', ['feature-state', 'hover'], false];
const selected: ExpressionSpecification = ['boolean', ['feature-state', 'selected'], false];

/**
 * Fill opacity: the level's ramp at rest, stronger when hovered or pinned. A zoom ramp must be
 * the outermost expression, so the feature-state choice goes inside each stop.
 */
function fillOpacity(rest: Ramp): number | ExpressionSpecification {
  const at = (value: number): ExpressionSpecification => ['case', selected, 0.26, hovered, 0.16, value];
  const [first] = rest;
  if (rest.length === 1 && first) return at(first[1]);
  const flat = rest.flatMap(([zoom, value]) => [zoom, at(value)]);
  return ['interpolate', ['linear'], ['zoom'], ...flat] as ExpressionSpecification;
}

/**
 * Which polygons of a source layer belong to a level. The city outline, when the server
 * sends one, shares the `county` layer, so that layer is split by `level`; the other
 * layers hold one level each.
 */
function polygonFilter(l: LevelStyle): FilterSpecification | undefined {
  if (l.sourceLayer !== 'county') return undefined;
  return l.level === Level.City
    ? ['==', ['get', 'level'], Level.City]
    : ['!=', ['get', 'level'], Level.City];
}

function withFilter<T extends LayerSpecification>(layer: T, filter: FilterSpecification | undefined): T {
  return filter ? { ...layer, filter } : layer;
}

function fillLayer(l: LevelStyle): LayerSpecification {
  return withFilter(
    {
      id: layerIds.fill(l),
      type: 'fill',
      source: UNITS_SOURCE,
      'source-layer': l.sourceLayer,
      minzoom: l.minzoom,
      paint: {
        'fill-color': l.color,
        'fill-opacity': fillOpacity(l.fillOpacity),
        'fill-antialias': false,
      },
    },
    polygonFilter(l),
  );
}

function lineLayer(l: LevelStyle): LayerSpecification {
  return withFilter(
    {
      id: layerIds.line(l),
      type: 'line',
      source: UNITS_SOURCE,
      'source-layer': l.sourceLayer,
      minzoom: l.minzoom,
      layout: { 'line-join': 'round', 'line-cap': 'round' },
      paint: {
        'line-color': l.color,
        'line-opacity': l.lineOpacity,
        'line-width': ramp(l.lineWidth),
      },
    },
    polygonFilter(l),
  );
}

function highlightLayer(l: LevelStyle): LayerSpecification {
  return withFilter(
    {
      id: layerIds.highlight(l),
      type: 'line',
      source: UNITS_SOURCE,
      'source-layer': l.sourceLayer,
      minzoom: l.minzoom,
      layout: { 'line-join': 'round' },
      paint: {
        'line-color': HIGHLIGHT_COLOR,
        'line-opacity': ['case', selected, 1, hovered, 0.75, 0],
        'line-width': ramp(l.lineWidth, 1, 1.5),
      },
    },
    polygonFilter(l),
  );
}

function labelLayer(l: LevelStyle): LayerSpecification {
  const layer: LayerSpecification = {
    id: layerIds.label(l),
    type: 'symbol',
    source: UNITS_SOURCE,
    'source-layer': LABEL_SOURCE_LAYER,
    minzoom: l.label.minzoom,
    filter: ['==', ['get', 'level'], l.level],
    layout: {
      'text-field': ['get', 'name'],
      'text-font': l.label.bold ? LABEL_FONT_BOLD : LABEL_FONT_REGULAR,
      'text-size': ramp(l.label.size),
      'text-max-width': 9,
      'text-padding': 4,
      'text-letter-spacing': l.label.bold ? 0.08 : 0.02,
    },
    paint: {
      'text-color': l.label.color,
      'text-halo-color': HALO_COLOR,
      'text-halo-width': l.label.bold ? 2 : 1.6,
      'text-halo-blur': 0.4,
    },
  };
  return l.label.maxzoom === undefined ? layer : { ...layer, maxzoom: l.label.maxzoom };
}

/**
 * The whole style for the unit map. There is deliberately no `glyphs` URL: labels are drawn
 * from local fonts (see fonts.ts), so the page loads nothing but its own origin's tiles.
 */
export function buildUnitsStyle(units: UnitsTileJson): StyleSpecification {
  const coarseToFine = [...LEVELS];
  const fineToCoarse = [...LEVELS].reverse();
  return {
    version: 8,
    name: 'Gridwall units',
    sources: {
      [UNITS_SOURCE]: {
        type: 'vector',
        tiles: units.tiles,
        minzoom: units.minzoom,
        maxzoom: units.maxzoom,
        ...(units.bounds ? { bounds: units.bounds } : {}),
        // Unit codes are unique across levels, so they serve as feature ids for hover state.
        promoteId: 'code',
      },
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': BACKGROUND_COLOR } },
      ...coarseToFine.map(fillLayer),
      ...fineToCoarse.map(lineLayer),
      ...fineToCoarse.map(highlightLayer),
      ...fineToCoarse.map(labelLayer),
    ],
  };
}
