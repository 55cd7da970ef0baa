// The choropleth of the current unit's children, drawn on the base map's own unit polygons:
// one extra fill layer per MVT source layer, coloured from feature state (the tiles promote
// the unit `code` to the feature id, see map/style.ts), so no second copy of the geometry is
// loaded. The view sets `leaderOn`, `leaderT` (0–1 on the ramp, or -1 for no data) and
// `leaderValue` (the metric itself) on each child; everything else stays transparent.

import type { ExpressionSpecification, Map as MapLibreMap } from 'maplibre-gl';

import { levelStyle, type Level } from '../map/levels';
import { UNITS_SOURCE } from '../map/style';

export type Metric = 'cases' | 'resolution' | 'coverage';
export const METRICS: readonly Metric[] = ['cases', 'resolution', 'coverage'];

/** Colour stops on [0, 1]: more cases is worse (hot), higher rates are better (green). */
export const RAMPS: Record<Metric, ReadonlyArray<readonly [number, string]>> = {
  cases: [
    [0, '#17324d'],
    [0.35, '#2f7fb8'],
    [0.7, '#f2c14e'],
    [1, '#ff4b4b'],
  ],
  resolution: [
    [0, '#ff4b4b'],
    [0.5, '#f2c14e'],
    [1, '#2fd18b'],
  ],
  coverage: [
    [0, '#3a1f4d'],
    [0.5, '#7a5cff'],
    [1, '#22e3ff'],
  ],
};
export const NO_DATA_COLOR = '#3b4652';

const SOURCE_LAYERS = ['county', 'township', 'village', 'grid'] as const;
const layerId = (sourceLayer: string): string => `leader-choropleth-${sourceLayer}`;
/** Under every outline, so unit borders stay crisp over the colours. */
const BEFORE = 'units-line-grid';

function colorExpression(metric: Metric): ExpressionSpecification {
  const t: ExpressionSpecification = ['number', ['feature-state', 'leaderT'], -1];
  const stops = RAMPS[metric].flatMap(([at, c]) => [at, c]);
  return ['case', ['<', t, 0], NO_DATA_COLOR, ['interpolate', ['linear'], t, ...stops]] as ExpressionSpecification;
}

/** The feature of a unit in the base map's source. */
export function unitFeature(code: string, level: Level): { source: string; sourceLayer: string; id: string } {
  return { source: UNITS_SOURCE, sourceLayer: levelStyle(level).sourceLayer, id: code };
}

export class Choropleth {
  private coloured: { code: string; level: Level }[] = [];

  constructor(private readonly map: MapLibreMap) {
    for (const sourceLayer of SOURCE_LAYERS) {
      if (map.getLayer(layerId(sourceLayer))) continue;
      map.addLayer(
        {
          id: layerId(sourceLayer),
          type: 'fill',
          source: UNITS_SOURCE,
          'source-layer': sourceLayer,
          paint: {
            'fill-color': colorExpression('cases'),
            'fill-opacity': ['case', ['boolean', ['feature-state', 'leaderOn'], false], 0.62, 0],
            'fill-antialias': false,
          },
        },
        map.getLayer(BEFORE) ? BEFORE : undefined,
      );
    }
  }

  /** The choropleth layers (for picking). */
  layerIds(): string[] {
    return SOURCE_LAYERS.map(layerId);
  }

  /**
   * Colours `units` by `values` (null: no data): normalised on [0, max] for counts and on
   * [0, 1] for rates. Units coloured before and not named now are cleared.
   */
  show(metric: Metric, units: ReadonlyArray<{ code: string; level: Level; value: number | null }>): number {
    this.clear();
    for (const id of this.layerIds()) this.map.setPaintProperty(id, 'fill-color', colorExpression(metric));
    const max = metric === 'cases' ? Math.max(1, ...units.map((u) => u.value ?? 0)) : 1;
    for (const u of units) {
      const t = u.value === null ? -1 : Math.min(1, Math.max(0, u.value / max));
      this.map.setFeatureState(unitFeature(u.code, u.level), {
        leaderOn: true,
        leaderT: t,
        leaderValue: u.value,
      });
    }
    this.coloured = units.map(({ code, level }) => ({ code, level }));
    return max;
  }

  clear(): void {
    for (const u of this.coloured) {
      this.map.setFeatureState(unitFeature(u.code, u.level), {
        leaderOn: false,
        leaderT: -1,
        leaderValue: null,
      });
    }
    this.coloured = [];
  }

  remove(): void {
    this.clear();
    for (const id of this.layerIds()) if (this.map.getLayer(id)) this.map.removeLayer(id);
  }
}
