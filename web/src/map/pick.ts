// Finds the unit under the pointer: the finest level drawn there, so hovering inside a
// village at zoom 11 names the village, not the township or county around it.

import type { Map as MapLibreMap, MapGeoJSONFeature, PointLike } from 'maplibre-gl';

import { isLevel, type Level } from './levels';
import { FILL_LAYER_IDS, UNITS_SOURCE } from './style';

/** A unit as the tiles describe it. */
export interface PickedUnit {
  code: string;
  name: string;
  level: Level;
  /** The MVT layer and feature id (the promoted `code`), which address its feature state. */
  sourceLayer: string;
  featureId: string | number;
}

function toUnit(feature: MapGeoJSONFeature): PickedUnit | undefined {
  const { code, name, level } = feature.properties as Record<string, unknown>;
  if ((typeof code !== 'string' && typeof code !== 'number') || !isLevel(level)) return undefined;
  return {
    code: String(code),
    name: typeof name === 'string' ? name : '',
    level,
    sourceLayer: feature.sourceLayer ?? '',
    featureId: feature.id ?? code,
  };
}

export function pickUnit(map: MapLibreMap, point: PointLike): PickedUnit | undefined {
  const layers = FILL_LAYER_IDS.filter((id) => map.getLayer(id) !== undefined);
  let best: PickedUnit | undefined;
  for (const feature of map.queryRenderedFeatures(point, { layers })) {
    const unit = toUnit(feature);
    if (unit && (!best || unit.level > best.level)) best = unit;
  }
  return best;
}

/** Sets or clears one boolean feature state (`hover`, `selected`) on a unit. */
export function setUnitState(
  map: MapLibreMap,
  unit: PickedUnit,
  state: 'hover' | 'selected',
  on: boolean,
): void {
  map.setFeatureState(
    { source: UNITS_SOURCE, sourceLayer: unit.sourceLayer, id: unit.featureId },
    { [state]: on },
  );
}

/**
 * The unit of `level` under `point` (for drilling down: the child level of the unit shown),
 * or the finest unit drawn there when `level` is left out. Only units whose fill layer is drawn
 * at the current zoom can be found.
 */
export function pickUnitAt(
  map: MapLibreMap,
  point: PointLike,
  level?: Level,
): PickedUnit | undefined {
  if (level === undefined) return pickUnit(map, point);
  const layers = FILL_LAYER_IDS.filter((id) => map.getLayer(id) !== undefined);
  for (const feature of map.queryRenderedFeatures(point, { layers })) {
    const unit = toUnit(feature);
    if (unit && unit.level === level) return unit;
  }
  return undefined;
}
