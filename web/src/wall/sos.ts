// SOS on the wall: a red banner naming the worker for every open SOS alert of the unit shown,
// and a siren made with WebAudio (no audio file: two oscillators, a wailing tone swept by a
// slow one). Browsers start audio only after a user gesture, so the wall shows an "enable
// sound" button until someone has pressed it; from then on the siren sounds while an SOS is
// open. Acknowledging or resolving the alert ends the banner and the siren.

import { t } from '../i18n';
import type { LiveAlert, LiveClient } from '../live/client';
import { el } from '../ui/dom';

/** Open SOS alerts, newest first. */
export function openSos(live: LiveClient): LiveAlert[] {
  return [...live.alerts.values()]
    .filter((a) => a.kind === 'sos' && a.status === 'open')
    .sort((a, b) => Date.parse(b.last_raised_at) - Date.parse(a.last_raised_at));
}

/** The worker's name: the live resource if the socket holds it, else the alert's title. */
export function sosName(live: LiveClient, alert: LiveAlert): string {
  const r = alert.entity_type === 'resource' ? live.resources.get(Number(alert.entity_id)) : undefined;
  if (r) return r.name;
  const m = /[:：]\s*(.+)$/.exec(alert.title);
  return m?.[1] ?? alert.title;
}

export function renderSosBanner(container: HTMLElement, live: LiveClient): LiveAlert[] {
  const open = openSos(live);
  container.hidden = open.length === 0;
  const [first] = open;
  if (!first) {
    container.replaceChildren();
    return open;
  }
  const children: HTMLElement[] = [
    el('span', { className: 'wall-sos__icon', text: 'SOS', attrs: { 'aria-hidden': 'true' } }),
    el('span', { className: 'wall-sos__text', text: t('wall.sos.banner', { name: sosName(live, first) }) }),
  ];
  if (open.length > 1) {
    children.push(el('span', { className: 'wall-sos__more', text: t('wall.sos.more', { count: open.length - 1 }) }));
  }
  container.dataset['alert'] = String(first.id);
  container.replaceChildren(...children);
  return open;
}

/** The siren. Silent until `enable()` is called from a user gesture. */
export class Siren {
  private ctx: AudioContext | undefined;
  private nodes: { tone: OscillatorNode; lfo: OscillatorNode; gain: GainNode } | undefined;
  private wanted = false;

  /** Whether sound has been enabled (and the browser lets it play). */
  get enabled(): boolean {
    return this.ctx !== undefined && this.ctx.state === 'running';
  }

  /** Whether the siren is sounding now. */
  get playing(): boolean {
    return this.nodes !== undefined && this.enabled;
  }

  /** Must run inside a click (or key) handler: browsers refuse audio otherwise. */
  async enable(): Promise<boolean> {
    this.ctx ??= new AudioContext();
    if (this.ctx.state !== 'running') await this.ctx.resume();
    this.apply();
    return this.enabled;
  }

  async disable(): Promise<void> {
    this.stopNodes();
    if (this.ctx && this.ctx.state === 'running') await this.ctx.suspend();
  }

  /** Sound while `on` (an SOS is open), if enabled. */
  set(on: boolean): void {
    this.wanted = on;
    this.apply();
  }

  close(): void {
    this.stopNodes();
    void this.ctx?.close();
    this.ctx = undefined;
  }

  private apply(): void {
    if (this.wanted && this.enabled) this.startNodes();
    else if (!this.wanted) this.stopNodes();
  }

  private startNodes(): void {
    const ctx = this.ctx;
    if (!ctx || this.nodes) return;
    const tone = ctx.createOscillator();
    tone.type = 'sawtooth';
    tone.frequency.value = 950;
    // A slow sine sweeps the tone between about 650 and 1250 Hz: the wail of a siren.
    const lfo = ctx.createOscillator();
    lfo.type = 'sine';
    lfo.frequency.value = 0.45;
    const depth = ctx.createGain();
    depth.gain.value = 300;
    lfo.connect(depth).connect(tone.frequency);
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, ctx.currentTime);
    gain.gain.linearRampToValueAtTime(0.18, ctx.currentTime + 0.2);
    tone.connect(gain).connect(ctx.destination);
    tone.start();
    lfo.start();
    this.nodes = { tone, lfo, gain };
  }

  private stopNodes(): void {
    const nodes = this.nodes;
    if (!nodes) return;
    this.nodes = undefined;
    try {
      nodes.tone.stop();
      nodes.lfo.stop();
    } catch {
      // Already stopped.
    }
    nodes.gain.disconnect();
  }
}

/** The sound button's label for the siren's state. */
export function soundLabel(siren: Siren): string {
  return siren.enabled ? t('wall.sound.off') : t('wall.sound.enable');
}
