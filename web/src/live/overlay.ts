// The live layers on a MapLibre map through deck.gl's overlay, interleaved (one WebGL context
// with the map, drawn after the map's own layers). `@deck.gl/maplibre`'s `MapLibreOverlay` is
// deck.gl's `MapboxOverlay` for MapLibre: `@deck.gl/mapbox` reads the `map.transform` that
// MapLibre 6 removed. No `beforeId`: a deck.gl layer drawn under MapLibre 6 labels disturbs
// them (visgl/deck.gl#10700), and markers belong above the labels on a wall anyway. Workers and vehicles with smooth movement, open
// cases by status and severity, and live alerts (SOS pulsing). Views add their own layers
// (candidates, hexagons, tracks) with `setExtraLayers`.
//
// Built for thousands of markers: positions and colours live in typed arrays handed to deck.gl
// as binary attributes, so a frame costs one pass over the resources and no accessor calls.
// Markers move from where they are drawn to the new fix over MOVE_MS; a resource whose fix is
// older than STALE_MS, or every resource while the socket is down for more than
// OFFLINE_GRACE_MS, is drawn grey and faint — never as live.

import type { BinaryAttribute, Layer, PickingInfo } from '@deck.gl/core';
import { IconLayer, ScatterplotLayer } from '@deck.gl/layers';
import { MapLibreOverlay } from '@deck.gl/maplibre';
import type { Map as MapLibreMap } from 'maplibre-gl';

import type { LiveAlert, LiveCase, LiveClient, LiveResource } from './client';

export const MOVE_MS = 1_000;
export const STALE_MS = 5 * 60_000;
export const OFFLINE_GRACE_MS = 20_000;
/** Time between frames while only a pulse (not movement) animates the overlay. */
export const PULSE_FRAME_MS = 50;

type Rgba = [number, number, number, number];

/** Marker colours by state (the legend in the views uses the same). */
export const RESOURCE_COLORS = {
  worker: [52, 211, 153, 255] as Rgba,
  vehicle: [96, 165, 250, 255] as Rgba,
  busy: [251, 191, 36, 255] as Rgba,
  sos: [248, 38, 38, 255] as Rgba,
  offline: [120, 128, 140, 200] as Rgba,
  stale: [120, 128, 140, 110] as Rgba,
};

/** Case colours by status group. */
export const CASE_COLORS: Record<string, Rgba> = {
  reported: [244, 114, 182, 255],
  accepted: [236, 72, 153, 255],
  dispatched: [251, 146, 60, 255],
  taken: [250, 204, 21, 255],
  in_progress: [250, 204, 21, 255],
  resolved: [45, 212, 191, 255],
  follow_up: [45, 212, 191, 255],
  escalated: [192, 132, 252, 255],
  overdue: [239, 68, 68, 255],
};

interface Track {
  from: [number, number];
  to: [number, number];
  t0: number;
}

export interface LiveOverlayOptions {
  /** Draw open cases (default true). */
  cases?: boolean;
  /** Draw live alerts (default true). */
  alerts?: boolean;
  onPickResource?: (resource: LiveResource) => void;
  onPickCase?: (item: LiveCase) => void;
  onPickAlert?: (item: LiveAlert) => void;
  /** Cases to draw highlighted (e.g. the one selected in the dispatch console). */
  selectedCase?: () => number | undefined;
  /**
   * Multiplies every marker size, ring and outline (default 1): the wall uses 2 on a 4K
   * screen so markers read from across the room.
   */
  scale?: number;
  /**
   * Draws overdue cases with a pulsing red ring around them, apart from their colour
   * (default false: overdue cases are only coloured red).
   */
  pulseOverdue?: boolean;
  /**
   * Time between frames while only a pulse animates (default PULSE_FRAME_MS). Every frame
   * repaints the whole map, which on a large screen with software GL is dear.
   */
  pulseFrameMs?: number;
  /**
   * Animate open alerts (default true). False draws them as steady rings, so a desk console
   * does not repaint every frame while an alert is open (software GL pays for each frame).
   */
  pulse?: boolean;
}

/** The atlas of marker shapes (white, tinted by `getColor`): a worker's disc, a vehicle's tile. */
function iconAtlas(): { canvas: HTMLCanvasElement; mapping: Record<string, IconDef> } {
  const size = 64;
  const canvas = document.createElement('canvas');
  canvas.width = size * 2;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  if (ctx) {
    ctx.fillStyle = '#fff';
    ctx.strokeStyle = 'rgba(0,0,0,0.85)';
    ctx.lineWidth = 6;
    ctx.beginPath();
    ctx.arc(size / 2, size / 2, size / 2 - 6, 0, Math.PI * 2);
    ctx.fill();
    // A person's head and shoulders, cut out of the disc.
    ctx.globalCompositeOperation = 'destination-out';
    ctx.beginPath();
    ctx.arc(size / 2, size / 2 - 8, 8, 0, Math.PI * 2);
    ctx.fill();
    ctx.beginPath();
    ctx.arc(size / 2, size / 2 + 18, 15, Math.PI, 0);
    ctx.fill();
    ctx.globalCompositeOperation = 'source-over';
    // A vehicle: a rounded tile with a windscreen cut out.
    const x = size + 6;
    const w = size - 12;
    ctx.beginPath();
    ctx.roundRect(x, 10, w, size - 20, 10);
    ctx.fill();
    ctx.globalCompositeOperation = 'destination-out';
    ctx.fillRect(x + 10, 18, w - 20, 12);
    ctx.globalCompositeOperation = 'source-over';
  }
  return {
    // Handed over as an image: a data: URL would be fetched, which the CSP's connect-src forbids.
    canvas,
    mapping: {
      worker: { x: 0, y: 0, width: size, height: size, mask: true },
      vehicle: { x: size, y: 0, width: size, height: size, mask: true },
    },
  };
}

interface IconDef {
  x: number;
  y: number;
  width: number;
  height: number;
  mask: boolean;
}

function resourceColor(r: LiveResource, stale: boolean): Rgba {
  if (stale) return RESOURCE_COLORS.stale;
  if (r.status.includes('sos')) return RESOURCE_COLORS.sos;
  if (r.status.includes('offline')) return RESOURCE_COLORS.offline;
  if (r.status.includes('busy')) return RESOURCE_COLORS.busy;
  return r.kind === 'vehicle' ? RESOURCE_COLORS.vehicle : RESOURCE_COLORS.worker;
}

/** Whether a resource's fix is too old to show as live. */
export function isStale(r: LiveResource, now: number): boolean {
  const at = Date.parse(r.at);
  return !Number.isFinite(at) || now - at > STALE_MS;
}

export function caseColor(c: LiveCase): Rgba {
  if (c.overdue) return CASE_COLORS['overdue'] ?? [239, 68, 68, 255];
  return CASE_COLORS[c.status] ?? [244, 114, 182, 255];
}

/** The overlay and its render loop. */
export class LiveOverlay {
  readonly deck: MapLibreOverlay;
  private readonly tracks = new Map<number, Track>();
  private ids: number[] = [];
  private positions = new Float32Array(0);
  private colors = new Uint8Array(0);
  private icons: string[] = [];
  private frame: number | undefined;
  private pulseTimer: number | undefined;
  /** Markers are moving until then (performance.now()). */
  private movingUntil = 0;
  /** Something else (a pulsing alert) wants frames until then. */
  private animatingUntil = 0;
  /** The resources' binary data; replaced (so deck.gl re-reads it) only when it changed. */
  private resourceData: { length: number; attributes: Record<string, BinaryAttribute> } = {
    length: 0,
    attributes: {},
  };
  private dirty = true;
  private extra: Layer[] = [];
  private readonly atlas = iconAtlas();
  private readonly unsubscribe: () => void;
  private readonly staleTimer: number;
  private disconnectedSince: number | undefined;
  /** Frames drawn (for the browser benchmark). */
  frames = 0;

  constructor(
    private readonly map: MapLibreMap,
    private readonly live: LiveClient,
    private options: LiveOverlayOptions = {},
  ) {
    this.deck = new MapLibreOverlay({ interleaved: true, layers: [] });
    map.addControl(this.deck);
    map.on('zoomend', this.onZoom);
    const offChange = live.onChange((change) => {
      if (change.resources) this.onResources(change.moved, change.snapshot);
      if (change.resources && change.moved.length > 0) this.dirty = true;
      this.render();
    });
    const offState = live.onState((state) => {
      if (state === 'live') this.disconnectedSince = undefined;
      else this.disconnectedSince ??= Date.now();
      this.dirty = true;
      this.render();
    });
    this.unsubscribe = () => {
      offChange();
      offState();
    };
    // Fixes age while nothing arrives: look again every few seconds.
    this.staleTimer = window.setInterval(() => {
      this.dirty = true;
      this.render();
    }, 5_000);
  }

  private readonly onZoom = (): void => this.render();

  /** Changes what is drawn and what picking a marker does (views call this on mount). */
  configure(options: LiveOverlayOptions): void {
    this.options = { ...this.options, ...options };
    this.render();
  }

  /** Layers a view draws above the live markers' own (below them: put them first). */
  setExtraLayers(layers: Layer[]): void {
    this.extra = layers;
    this.render();
  }

  /** The drawn position of a resource now (interpolated), if it is on the map. */
  positionOf(id: number): [number, number] | undefined {
    const track = this.tracks.get(id);
    return track ? interpolate(track, performance.now()) : undefined;
  }

  /** The colour a resource's marker is drawn with now (RGBA), if drawn: for tests. */
  colorOf(id: number): Rgba | undefined {
    const i = this.ids.indexOf(id);
    if (i < 0) return undefined;
    return [...this.colors.subarray(i * 4, i * 4 + 4)] as Rgba;
  }

  remove(): void {
    this.unsubscribe();
    window.clearInterval(this.staleTimer);
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    window.clearTimeout(this.pulseTimer);
    this.map.off('zoomend', this.onZoom);
    this.map.removeControl(this.deck);
    this.deck.finalize();
  }

  private onResources(moved: number[], snapshot: boolean): void {
    const now = performance.now();
    if (snapshot) {
      for (const id of this.tracks.keys()) {
        if (!this.live.resources.has(id)) this.tracks.delete(id);
      }
    }
    for (const id of moved) {
      const r = this.live.resources.get(id);
      if (!r) continue;
      const track = this.tracks.get(id);
      if (!track) {
        this.tracks.set(id, { from: r.position, to: r.position, t0: now });
        continue;
      }
      if (track.to[0] === r.position[0] && track.to[1] === r.position[1]) continue;
      track.from = interpolate(track, now);
      track.to = r.position;
      track.t0 = now;
      this.movingUntil = now + MOVE_MS;
    }
    for (const id of this.tracks.keys()) {
      if (!this.live.resources.has(id)) this.tracks.delete(id);
    }
    this.rebuildAttributes();
  }

  /** Ids, colours and icons, in a stable order; positions are filled per frame. */
  private rebuildAttributes(): void {
    const n = this.live.resources.size;
    if (this.positions.length !== n * 2) {
      this.positions = new Float32Array(n * 2);
      this.colors = new Uint8Array(n * 4);
    }
    this.ids = [...this.live.resources.keys()];
    this.icons = new Array<string>(n);
    this.dirty = true;
  }

  private refreshColors(): void {
    const wall = Date.now();
    const down =
      this.disconnectedSince !== undefined && wall - this.disconnectedSince > OFFLINE_GRACE_MS;
    for (let i = 0; i < this.ids.length; i += 1) {
      const r = this.live.resources.get(this.ids[i] ?? -1);
      if (!r) continue;
      const c = resourceColor(r, down || isStale(r, wall));
      this.colors.set(c, i * 4);
      this.icons[i] = r.kind;
    }
  }

  private fillPositions(now: number): void {
    for (let i = 0; i < this.ids.length; i += 1) {
      const track = this.tracks.get(this.ids[i] ?? -1);
      if (!track) continue;
      const [x, y] = interpolate(track, now);
      this.positions[i * 2] = x;
      this.positions[i * 2 + 1] = y;
    }
  }

  /** Draws now, and keeps drawing while markers are moving. */
  render(): void {
    if (this.frame !== undefined) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = undefined;
      const now = performance.now();
      const moving = now < this.movingUntil;
      if (this.dirty || moving) {
        this.refreshColors();
        this.fillPositions(now);
        this.resourceData = {
          length: this.ids.length,
          attributes: {
            getPosition: { value: this.positions, size: 2 },
            // deck.gl reads `normalized` at run time (0-255 bytes as 0-1); its type omits it.
            getColor: { value: this.colors, size: 4, normalized: true } as BinaryAttribute,
          },
        };
        this.dirty = false;
      }
      this.deck.setProps({ layers: this.layers() });
      this.frames += 1;
      if (moving) this.render();
      else if (now < this.animatingUntil) this.renderPulse();
    });
  }

  /**
   * The next frame of a pulse (alerts, overdue cases): a pulse reads as well at ~20 frames a
   * second, and every frame repaints the whole map, so pulsing alone does not run at 60.
   */
  private renderPulse(): void {
    if (this.pulseTimer !== undefined) return;
    this.pulseTimer = window.setTimeout(() => {
      this.pulseTimer = undefined;
      this.render();
    }, this.options.pulseFrameMs ?? PULSE_FRAME_MS);
  }

  private layers(): Layer[] {
    const out: Layer[] = [];
    const ids = this.ids;
    const icons = this.icons;
    const resourceData = this.resourceData;
    const live = this.live;
    const options = this.options;
    const k = options.scale !== undefined && options.scale > 0 ? options.scale : 1;
    const pulse = (Math.sin(performance.now() / 250) + 1) / 2;
    if (options.cases !== false) {
      const selected = options.selectedCase?.();
      const cases = [...live.cases.values()];
      const overdue = options.pulseOverdue ? cases.filter((c) => c.overdue) : [];
      if (overdue.length > 0) {
        out.push(
          new ScatterplotLayer<LiveCase>({
            id: 'live-cases-overdue',
            data: overdue,
            getPosition: (c) => c.position,
            getFillColor: [239, 68, 68, Math.round(40 * (1 - pulse))],
            getLineColor: [255, 80, 80, Math.round(110 + 145 * (1 - pulse))],
            getRadius: (c) => (9 + c.severity * 1.5 + 8 * pulse) * k,
            getLineWidth: 2.5 * k,
            radiusUnits: 'pixels',
            lineWidthUnits: 'pixels',
            stroked: true,
            filled: true,
            updateTriggers: { getFillColor: pulse, getLineColor: pulse, getRadius: [pulse, k] },
          }),
        );
        this.animatingUntil = Math.max(this.animatingUntil, performance.now() + 100);
      }
      out.push(
        new ScatterplotLayer<LiveCase>({
          id: 'live-cases',
          data: cases,
          getPosition: (c) => c.position,
          getFillColor: (c) => caseColor(c),
          getLineColor: (c) => (c.id === selected ? [255, 255, 255, 255] : [15, 23, 42, 255]),
          getRadius: (c) => (5 + c.severity * 1.5 + (c.id === selected ? 4 : 0)) * k,
          getLineWidth: (c) => (c.id === selected ? 3 : 1.5) * k,
          radiusUnits: 'pixels',
          lineWidthUnits: 'pixels',
          stroked: true,
          pickable: true,
          updateTriggers: {
            getLineColor: selected,
            getRadius: [selected, k],
            getLineWidth: [selected, k],
          },
          onClick: (info: PickingInfo<LiveCase>) => {
            if (info.object) options.onPickCase?.(info.object);
            return info.object !== undefined;
          },
        }),
      );
    }
    out.push(
      new IconLayer({
        id: 'live-resources',
        data: this.resourceData,
        // deck.gl takes any image source for `iconAtlas`; its type names only URLs and textures.
        iconAtlas: this.atlas.canvas as unknown as string,
        iconMapping: this.atlas.mapping,
        getIcon: (_: unknown, { index }: { index: number }) => icons[index] ?? 'worker',
        getSize: 22,
        sizeUnits: 'pixels',
        // Smaller at city and county zoom, where thousands share the screen.
        sizeScale: markerScale(this.map.getZoom()) * k,
        sizeMinPixels: 8 * k,
        pickable: true,
        updateTriggers: { getIcon: resourceData },
        onClick: (info: PickingInfo) => {
          const r = live.resources.get(ids[info.index] ?? -1);
          if (r) options.onPickResource?.(r);
          return r !== undefined;
        },
      }),
    );
    if (options.alerts !== false) {
      const alerts = [...live.alerts.values()].filter((a) => a.position !== null);
      const animate = options.pulse !== false;
      const alertPulse = animate ? pulse : 1;
      const pulsing = animate && alerts.some((a) => a.status === 'open');
      out.push(
        new ScatterplotLayer<LiveAlert>({
          id: 'live-alerts',
          data: alerts,
          getPosition: (a) => a.position ?? [0, 0],
          getFillColor: [0, 0, 0, 0],
          getLineColor: (a) =>
            a.status === 'open'
              ? [248, 38, 38, Math.round(120 + 135 * alertPulse)]
              : [251, 191, 36, 200],
          getRadius: (a) => (a.status === 'open' ? 16 + 10 * alertPulse : 14) * k,
          getLineWidth: 3 * k,
          radiusUnits: 'pixels',
          lineWidthUnits: 'pixels',
          stroked: true,
          filled: false,
          pickable: true,
          updateTriggers: { getLineColor: alertPulse, getRadius: [alertPulse, k], getLineWidth: k },
          onClick: (info: PickingInfo<LiveAlert>) => {
            if (info.object) options.onPickAlert?.(info.object);
            return info.object !== undefined;
          },
        }),
      );
      if (pulsing) this.animatingUntil = Math.max(this.animatingUntil, performance.now() + 100);
    }
    return [...out, ...this.extra];
  }
}

/** Marker size factor by map zoom. */
export function markerScale(zoom: number): number {
  if (zoom < 10) return 0.45;
  if (zoom < 12) return 0.65;
  if (zoom < 14) return 0.85;
  return 1;
}

function interpolate(track: Track, now: number): [number, number] {
  const f = Math.min(1, Math.max(0, (now - track.t0) / MOVE_MS));
  if (f >= 1) return track.to;
  return [
    track.from[0] + (track.to[0] - track.from[0]) * f,
    track.from[1] + (track.to[1] - track.from[1]) * f,
  ];
}
