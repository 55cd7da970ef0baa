// Track playback (bottom left): find a worker by name, load their track for the window, and
// play it (the whole track in 20 s) or scrub it with the slider. The path and the marker are
// deck.gl layers the view draws with its others (`layers()`).

import type { Layer } from '@deck.gl/core';
import { PathLayer, ScatterplotLayer } from '@deck.gl/layers';
import type { Map as MapLibreMap } from 'maplibre-gl';

import { getTrack, searchWorkers, type Track, type WorkerHit } from '../api';
import { lang, t } from '../i18n';
import { bboxOfPoints } from '../map/bounds';
import { el } from '../ui/dom';
import { counted, type LeaderState } from './state';
import { positionAt, spanOf } from './track';

const PLAY_MS = 20_000;

export interface PlayerHost {
  state: LeaderState;
  map: MapLibreMap;
  /** The layers changed: draw them again. */
  redraw: () => void;
  fail: (err: unknown) => void;
}

function trackLayers(track: Track, trackT: number): Layer[] {
  const marker = positionAt(track, trackT);
  return [
    new PathLayer<{ path: [number, number][] }>({
      id: 'leader-track-path',
      data: [{ path: track.path }],
      getPath: (d) => d.path,
      getColor: [255, 214, 102, 220],
      getWidth: 3,
      widthUnits: 'pixels',
      jointRounded: true,
      capRounded: true,
    }),
    new ScatterplotLayer<[number, number]>({
      id: 'leader-track-marker',
      data: marker ? [marker] : [],
      getPosition: (d) => d,
      getFillColor: [255, 255, 255, 255],
      getLineColor: [255, 159, 67, 255],
      stroked: true,
      lineWidthUnits: 'pixels',
      getLineWidth: 3,
      radiusUnits: 'pixels',
      getRadius: 8,
      updateTriggers: { getPosition: [trackT] },
    }),
  ];
}

export class TrackPlayer {
  readonly element: HTMLElement;
  track: Track | undefined;
  trackT = 0;
  private playing = false;
  private raf = 0;
  private lastFrame = 0;
  private searchTimer = 0;
  private searchAbort = new AbortController();
  private disposed = false;
  private readonly title = el('h3', { className: 'leader__subtitle' });
  private readonly search = el('input', { className: 'leader__search', attrs: { type: 'search', autocomplete: 'off' } });
  private readonly hits = el('ul', { className: 'leader__hits' });
  private readonly play = el('button', { className: 'leader__play', attrs: { type: 'button' } });
  private readonly slider = el('input', {
    className: 'leader__slider',
    attrs: { type: 'range', min: '0', max: '1000', step: '1', value: '0' },
  });
  private readonly info = el('div', { className: 'leader__dim leader__trackinfo' });

  constructor(private readonly host: PlayerHost) {
    this.element = el('aside', { className: 'overlay leader-track' }, [
      this.title,
      this.search,
      this.hits,
      el('div', { className: 'leader__row' }, [this.play, this.slider]),
      this.info,
    ]);
    this.play.addEventListener('click', () => this.togglePlay());
    this.slider.addEventListener('input', () => this.scrub());
    this.search.addEventListener('input', () => this.searchSoon());
  }

  /** The path and marker layers (none without a track). */
  layers(): Layer[] {
    return this.track && this.track.path.length > 0 ? trackLayers(this.track, this.trackT) : [];
  }

  render(): void {
    const { track, play, slider, info } = this;
    this.title.textContent = t('leader.track.title');
    this.search.placeholder = t('leader.track.search');
    play.textContent = this.playing ? '❚❚' : '▶';
    play.setAttribute('aria-label', t(this.playing ? 'leader.track.pause' : 'leader.track.play'));
    play.disabled = !track || track.path.length < 2;
    slider.disabled = play.disabled;
    slider.setAttribute('aria-label', t('leader.track.slider'));
    if (!track) {
      info.textContent = t('leader.track.hint');
      return;
    }
    if (track.path.length === 0) {
      info.textContent = t('leader.track.empty', { name: track.name });
      return;
    }
    const at = new Date(this.trackT).toLocaleString(lang(), { hour12: false });
    info.textContent = t('leader.track.info', { name: track.name, points: track.path.length, at });
  }

  private setT(tMs: number): void {
    this.trackT = tMs;
    const span = this.track ? spanOf(this.track) : undefined;
    if (span) {
      const f = span[1] > span[0] ? (tMs - span[0]) / (span[1] - span[0]) : 0;
      this.slider.value = String(Math.round(f * 1000));
    }
    this.render();
    this.host.redraw();
  }

  stop(): void {
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.render();
  }

  private readonly frame = (now: number): void => {
    const span = this.track ? spanOf(this.track) : undefined;
    if (!this.playing || !span) return;
    const dt = this.lastFrame ? now - this.lastFrame : 0;
    this.lastFrame = now;
    const next = this.trackT + ((span[1] - span[0]) * dt) / PLAY_MS;
    if (next >= span[1]) {
      this.setT(span[1]);
      this.stop();
      return;
    }
    this.setT(next);
    this.raf = requestAnimationFrame(this.frame);
  };

  private togglePlay(): void {
    const span = this.track ? spanOf(this.track) : undefined;
    if (!span) return;
    if (this.playing) {
      this.stop();
      return;
    }
    if (this.trackT >= span[1]) this.setT(span[0]);
    this.playing = true;
    this.lastFrame = 0;
    this.render();
    this.raf = requestAnimationFrame(this.frame);
  }

  private scrub(): void {
    const span = this.track ? spanOf(this.track) : undefined;
    if (!span) return;
    if (this.playing) this.stop();
    this.setT(span[0] + ((span[1] - span[0]) * Number(this.slider.value)) / 1000);
  }

  /** Loads a track for the window; `fit`: a newly picked worker, so show the whole path. */
  async load(id: number, fit: boolean): Promise<void> {
    if (fit) this.stop();
    try {
      const tr = await counted(this.host.state, getTrack(id, this.host.state.win));
      if (this.disposed) return;
      this.track = tr;
      const span = spanOf(tr);
      const tNow = this.trackT;
      // A reload (new window, the minute's refresh) keeps the playback time where it can.
      this.setT(span ? (fit || tNow < span[0] || tNow > span[1] ? span[0] : tNow) : 0);
      const bounds = fit ? bboxOfPoints(tr.path) : undefined;
      if (bounds) {
        this.host.map.fitBounds(bounds, {
          padding: { top: 140, bottom: 140, left: 460, right: 420 },
          maxZoom: 16,
          duration: 600,
        });
      }
    } catch (err) {
      this.host.fail(err);
    }
  }

  /** Reloads the track shown for a new window, if there is one. */
  reload(): void {
    if (this.track) void this.load(this.track.id, false);
  }

  private hitItem(w: WorkerHit): HTMLElement {
    const b = el('button', { className: 'leader__hit', attrs: { type: 'button', 'data-id': String(w.id) } }, [
      el('span', { text: w.name }),
      el('span', { className: 'leader__dim', text: w.grid.name }),
    ]);
    b.addEventListener('click', () => {
      this.hits.replaceChildren();
      this.search.value = w.name;
      void this.load(w.id, true);
    });
    return el('li', {}, [b]);
  }

  private searchSoon(): void {
    window.clearTimeout(this.searchTimer);
    this.searchTimer = window.setTimeout(() => {
      this.searchAbort.abort();
      this.searchAbort = new AbortController();
      const q = this.search.value.trim();
      if (!q) {
        this.hits.replaceChildren();
        return;
      }
      const signal = this.searchAbort.signal;
      counted(this.host.state, searchWorkers(q, signal)).then((ws) => {
        if (signal.aborted) return;
        this.hits.replaceChildren(
          ...(ws.length === 0
            ? [el('li', { className: 'leader__dim', text: t('leader.track.nohits') })]
            : ws.map((w) => this.hitItem(w))),
        );
      }, this.host.fail);
    }, 250);
  }

  /** The state the browser tests read. */
  debug(): { id: number; points: number; marker: [number, number] | undefined; t: number } | undefined {
    const { track, trackT } = this;
    return track ? { id: track.id, points: track.path.length, marker: positionAt(track, trackT), t: trackT } : undefined;
  }

  dispose(): void {
    this.disposed = true;
    this.stop();
    this.searchAbort.abort();
    window.clearTimeout(this.searchTimer);
  }
}
