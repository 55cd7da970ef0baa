// The SOS banner and the sound button together: the banner names every open SOS of the unit,
// the siren sounds while one is open (once someone has enabled sound: browsers refuse audio
// without a gesture), and the button flashes while an SOS is open and sound is off.

import { t } from '../i18n';
import type { LiveClient } from '../live/client';
import { el } from '../ui/dom';
import { Siren, openSos, renderSosBanner, soundLabel } from './sos';

export class Alarm {
  readonly banner = el('div', { className: 'wall-sos', attrs: { id: 'wall-sos', role: 'alert' } });
  readonly soundButton = el('button', { className: 'wall-sound', attrs: { id: 'wall-sound', type: 'button' } });
  readonly siren = new Siren();

  constructor(private readonly live: LiveClient) {
    this.banner.hidden = true;
    this.soundButton.addEventListener('click', () => {
      const siren = this.siren;
      const next = siren.enabled ? siren.disable() : siren.enable();
      void next.then(
        () => this.renderSound(),
        (err: unknown) => {
          console.error('Gridwall wall: sound', err);
          this.soundButton.textContent = t('wall.sound.blocked');
        },
      );
    });
  }

  renderSos(): void {
    const open = renderSosBanner(this.banner, this.live);
    this.siren.set(open.length > 0);
    document.body.classList.toggle('wall--sos', open.length > 0);
  }

  renderSound(): void {
    const { soundButton, siren } = this;
    soundButton.textContent = soundLabel(siren);
    soundButton.classList.toggle('wall-sound--on', siren.enabled);
    soundButton.classList.toggle('wall-sound--needed', !siren.enabled && openSos(this.live).length > 0);
  }

  render(): void {
    this.renderSos();
    this.renderSound();
  }

  /** The ids of the open SOS alerts (for the browser tests). */
  open(): number[] {
    return openSos(this.live).map((a) => a.id);
  }

  close(): void {
    this.siren.close();
  }
}
