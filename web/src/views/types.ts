// What every view (the one-map page, the wall, the dispatch console, the leader view) gets
// from the page shell once a user is signed in, and the one function a view exports.
//
// The shell owns sign-in, the header, the MapLibre map of the units, the live socket and the
// deck.gl overlay; a view adds its own panels into `root`, its own layers through
// `overlay.setExtraLayers`, and chooses what the socket subscribes to. Unmounting (sign-out,
// session end) must undo everything the view did outside `root`.

import type { Map as MapLibreMap } from 'maplibre-gl';

import type { Session } from '../api';
import type { LiveClient } from '../live/client';
import type { LiveOverlay } from '../live/overlay';
import type { UnitsTileJson } from '../map/tilejson';

export type ViewName = 'map' | 'wall' | 'dispatch' | 'leader';

export const VIEWS: readonly ViewName[] = ['map', 'wall', 'dispatch', 'leader'];

/** The path of each view (the server answers every one of them with index.html). */
export const VIEW_PATHS: Record<ViewName, string> = {
  map: '/',
  wall: '/wall',
  dispatch: '/dispatch',
  leader: '/leader',
};

/** The view for a location's path; unknown paths show the one-map page. */
export function viewOfPath(pathname: string): ViewName {
  const p = pathname.replace(/\/+$/, '') || '/';
  for (const v of VIEWS) if (VIEW_PATHS[v] === p) return v;
  return 'map';
}

export interface ViewContext {
  session: Session;
  map: MapLibreMap;
  units: UnitsTileJson;
  /** The view's own layer over the map (panels, tickers); emptied by the shell on unmount. */
  root: HTMLElement;
  live: LiveClient;
  overlay: LiveOverlay;
  /** Shows an error in the page's error box. */
  showError: (message: string) => void;
}

/** Mounts a view; returns what takes it down again. */
export type MountView = (ctx: ViewContext) => () => void;
