// The bottom-right panel: the choropleth's metric chooser, its colour ramp and the no-data
// swatch, and the density toggle with what the density layer shows.

import { t } from '../i18n';
import { el } from '../ui/dom';
import { METRICS, NO_DATA_COLOR, RAMPS, type Metric } from './choropleth';
import { formatMetric, num } from './format';
import { segButtons } from './segment';
import type { LeaderState } from './state';

export interface LegendEvents {
  pickMetric: (m: Metric) => void;
  toggleDensity: (on: boolean) => void;
}

export interface LegendPanel {
  element: HTMLElement;
  render: () => void;
}

export function createLegendPanel(state: LeaderState, events: LegendEvents): LegendPanel {
  const legendTitle = el('h3', { className: 'leader__subtitle' });
  const metricSeg = el('div', { className: 'leader__seg leader__seg--metric', attrs: { role: 'group' } });
  const ramp = el('div', { className: 'leader__ramp' });
  const rampMin = el('span');
  const rampMax = el('span');
  const noData = el('span', { className: 'leader__nodata' });
  const densityToggle = el('input', { attrs: { type: 'checkbox', id: 'leader-density' } });
  densityToggle.checked = true;
  const densityLabel = el('label', { attrs: { for: 'leader-density' } });
  const densityInfo = el('span', { className: 'leader__dim' });
  const element = el('aside', { className: 'overlay leader-legend' }, [
    legendTitle,
    metricSeg,
    ramp,
    el('div', { className: 'leader__ramp-labels' }, [rampMin, rampMax]),
    noData,
    el('div', { className: 'leader__toggle' }, [densityToggle, densityLabel, densityInfo]),
  ]);
  densityToggle.addEventListener('change', () => events.toggleDensity(densityToggle.checked));

  const render = (): void => {
    const { metric, density } = state;
    legendTitle.textContent = t('leader.legend.title');
    segButtons(metricSeg, METRICS, metric, (m) => t(`leader.metric.${m}`), events.pickMetric);
    ramp.style.background = `linear-gradient(to right, ${RAMPS[metric].map(([at, c]) => `${c} ${at * 100}%`).join(', ')})`;
    rampMin.textContent = formatMetric(metric, 0);
    rampMax.textContent = formatMetric(metric, state.lastMax);
    noData.textContent = t('leader.legend.nodata');
    noData.style.setProperty('--nodata', NO_DATA_COLOR);
    densityLabel.textContent = t('leader.density.toggle');
    densityInfo.textContent = density ? t('leader.density.info', { total: num(density.total), res: density.res }) : '';
  };
  return { element, render };
}
