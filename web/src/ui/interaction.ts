// Hover and click on units: the hovered unit is lit and shown in the panel; a click pins a
// unit (the panel then keeps showing it) until an empty spot or the same unit is clicked.

import type { Map as MapLibreMap } from 'maplibre-gl';

import { pickUnit, setUnitState, type PickedUnit } from '../map/pick';
import type { PanelState } from './panel';

function same(a: PickedUnit | undefined, b: PickedUnit | undefined): boolean {
  return a?.sourceLayer === b?.sourceLayer && a?.featureId === b?.featureId;
}

/** Wires pointer events; `onChange` gets what the panel should show. Returns the current state. */
export function bindUnitInteraction(
  map: MapLibreMap,
  onChange: (state: PanelState) => void,
): () => PanelState {
  let hovered: PickedUnit | undefined;
  let pinned: PickedUnit | undefined;
  const container = map.getCanvasContainer();

  const state = (): PanelState => ({ unit: pinned ?? hovered, pinned: pinned !== undefined });

  const hover = (unit: PickedUnit | undefined): void => {
    if (same(unit, hovered)) return;
    if (hovered) setUnitState(map, hovered, 'hover', false);
    hovered = unit;
    if (hovered) setUnitState(map, hovered, 'hover', true);
    container.classList.toggle('is-over-unit', hovered !== undefined);
    if (!pinned) onChange(state());
  };

  map.on('mousemove', (e) => hover(pickUnit(map, e.point)));
  map.on('mouseout', () => hover(undefined));
  map.on('click', (e) => {
    const unit = pickUnit(map, e.point);
    if (pinned) setUnitState(map, pinned, 'selected', false);
    pinned = unit && !same(unit, pinned) ? unit : undefined;
    if (pinned) setUnitState(map, pinned, 'selected', true);
    onChange(state());
  });

  return state;
}
