// The map side of the wall: fitting the unit shown clear of the header and the side column,
// lighting it by feature state, and the child unit under the pointer (drill-down).

import type { Map as MapLibreMap, PointLike } from 'maplibre-gl';

import { LEVELS, type Level } from '../map/levels';
import { pickUnitAt } from '../map/pick';
import { UNITS_SOURCE } from '../map/style';
import type { WallUnit } from './units';

export interface Padding {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** Room the map keeps free of data: below the header and crumbs, left of the side column. */
export function wallPadding(map: MapLibreMap, crumbs: HTMLElement, side: HTMLElement, scale: number): Padding {
  const box = map.getContainer().getBoundingClientRect();
  const margin = 24 * scale;
  const top = Math.max(margin, crumbs.getBoundingClientRect().bottom - box.top + margin);
  const right = Math.max(margin, box.right - side.getBoundingClientRect().left + margin);
  const fits = box.width - right - margin > 100 && box.height - top - margin > 100;
  return fits ? { top, right, bottom: margin, left: margin } : { top: 0, right: 0, bottom: 0, left: 0 };
}

/** Fits the map to a unit's bounds. */
export function fitUnit(map: MapLibreMap, unit: WallUnit, padding: Padding, duration: number): void {
  const [w, s, e, n] = unit.bbox;
  map.fitBounds(
    [
      [w, s],
      [e, n],
    ],
    { padding, duration, maxZoom: 17 },
  );
}

/** Lights the unit shown (its fill, by feature state) so its extent reads on the wall. */
export function highlight(map: MapLibreMap, unit: WallUnit | undefined, on: boolean): void {
  const style = unit ? LEVELS.find((l) => l.level === unit.level) : undefined;
  if (!unit || !style) return;
  try {
    map.setFeatureState({ source: UNITS_SOURCE, sourceLayer: style.sourceLayer, id: unit.code }, { selected: on });
  } catch (err) {
    console.warn('Gridwall wall: cannot highlight', unit.code, err);
  }
}

/** The child of `unit` under a point, if the unit has children and drilling is allowed. */
export function childAt(map: MapLibreMap, unit: WallUnit | undefined, point: PointLike): { code: string } | undefined {
  if (!unit || unit.level >= 4) return undefined;
  return pickUnitAt(map, point, (unit.level + 1) as Level);
}
