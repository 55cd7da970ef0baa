// The five levels of the 王 hierarchy (shared/GLOSSARY.md) and how each is drawn.
// One table drives the map layers, the legend swatches and the panel, so a colour or a
// zoom range is changed in one place. Min zooms follow what the server puts in its tiles.

/** A unit's level, as the tiles carry it in the `level` property. */
export const Level = {
  City: 0,
  County: 1,
  Township: 2,
  Village: 3,
  Grid: 4,
} as const;
export type Level = (typeof Level)[keyof typeof Level];

/** The MVT source layers the server's `/tiles/units/{z}/{x}/{y}.mvt` carries. */
export type UnitSourceLayer = 'county' | 'township' | 'village' | 'grid';
export const LABEL_SOURCE_LAYER = 'label';

/** A zoom → value ramp, interpolated linearly between the stops. */
export type Ramp = ReadonlyArray<readonly [zoom: number, value: number]>;

export interface LevelStyle {
  level: Level;
  /** Snake-case name used in layer ids and CSS (`county`, …). */
  key: 'city' | 'county' | 'township' | 'village' | 'grid';
  /** Source layer holding this level's polygons (the city, if sent, rides in `county`). */
  sourceLayer: UnitSourceLayer;
  /** Outline and fill colour. */
  color: string;
  /**
   * Fill opacity at rest by zoom, fading as finer levels appear so the tints don't pile up;
   * a hovered or pinned unit is filled more strongly.
   */
  fillOpacity: Ramp;
  lineOpacity: number;
  /** Outline width in CSS pixels by zoom. */
  lineWidth: Ramp;
  /** First zoom at which polygons are drawn (the server sends none before it). */
  minzoom: number;
  label: {
    minzoom: number;
    /** Labels disappear from this zoom on (exclusive), if set. */
    maxzoom?: number;
    /** Text size in CSS pixels by zoom. */
    size: Ramp;
    color: string;
    bold: boolean;
  };
}

export const LEVELS: readonly LevelStyle[] = [
  {
    level: Level.City,
    key: 'city',
    sourceLayer: 'county',
    color: '#f7d774',
    fillOpacity: [[0, 0]],
    lineOpacity: 0.9,
    lineWidth: [[0, 2], [10, 3.5], [14, 5]],
    minzoom: 0,
    label: { minzoom: 0, maxzoom: 9, size: [[4, 14], [9, 20]], color: '#fbe7a1', bold: true },
  },
  {
    level: Level.County,
    key: 'county',
    sourceLayer: 'county',
    color: '#22e3ff',
    fillOpacity: [[6, 0.07], [12, 0.02]],
    lineOpacity: 0.95,
    lineWidth: [[0, 1.2], [8, 2.2], [12, 3], [16, 4]],
    minzoom: 0,
    label: { minzoom: 6, size: [[6, 13], [10, 17], [14, 20]], color: '#dff9ff', bold: true },
  },
  {
    level: Level.Township,
    key: 'township',
    sourceLayer: 'township',
    color: '#4d9fff',
    fillOpacity: [[8, 0.06], [14, 0.02]],
    lineOpacity: 0.85,
    lineWidth: [[8, 0.8], [12, 1.6], [16, 2.4]],
    minzoom: 7,
    label: { minzoom: 9, size: [[9, 12], [13, 15]], color: '#d3e6ff', bold: false },
  },
  {
    level: Level.Village,
    key: 'village',
    sourceLayer: 'village',
    color: '#6fe3b4',
    fillOpacity: [[10, 0.05], [15, 0.02]],
    lineOpacity: 0.7,
    lineWidth: [[10, 0.5], [14, 1.1], [16, 1.6]],
    minzoom: 9,
    label: { minzoom: 11, size: [[11, 11], [15, 13.5]], color: '#cdf5e4', bold: false },
  },
  {
    level: Level.Grid,
    key: 'grid',
    sourceLayer: 'grid',
    color: '#8fa3ba',
    fillOpacity: [[12, 0.04], [16, 0.03]],
    lineOpacity: 0.45,
    lineWidth: [[12, 0.35], [16, 0.9]],
    minzoom: 11,
    label: { minzoom: 13, size: [[13, 10.5], [16, 12.5]], color: '#b4c2d2', bold: false },
  },
];

/** The levels a user sees in the legend: county to grid (the city root is optional). */
export const LEGEND_LEVELS: readonly LevelStyle[] = LEVELS.filter((l) => l.level !== Level.City);

export function isLevel(value: unknown): value is Level {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 4;
}

export function levelStyle(level: Level): LevelStyle {
  const style = LEVELS.find((l) => l.level === level);
  if (!style) throw new Error(`no style for level ${level}`);
  return style;
}
