// How the console writes statuses, actions, sources, times, ages and distances, in the UI
// language (the `dispatch.*` keys of i18n/). Unknown codes from the server are shown as is.

import { CASE_STATUSES } from '../api';
import { lang, t, type MessageKey } from '../i18n';

export function statusLabel(status: string): string {
  return (CASE_STATUSES as readonly string[]).includes(status)
    ? t(`dispatch.status.${status}` as MessageKey)
    : status;
}

const ACTION_KEYS: Record<string, true> = Object.fromEntries(
  [
    'report',
    'overdue',
    'accept',
    'reject',
    'dispatch',
    'reassign',
    'take',
    'start',
    'decline',
    'return',
    'resolve',
    'follow_up',
    'close',
    'escalate',
    'reopen',
  ].map((a) => [`dispatch.action.${a}`, true]),
);

export function actionLabel(action: string): string {
  const key = `dispatch.action.${action}`;
  return key in ACTION_KEYS ? t(key as MessageKey) : action;
}

export function sourceLabel(source: string): string {
  const known = ['patrol', 'hotline_12345', 'police_110', 'walk_in', 'other'];
  return known.includes(source) ? t(`dispatch.source.${source}` as MessageKey) : source;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang(), { hour12: false });
}

export function age(iso: string): string {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60_000));
  if (minutes < 60) return t('dispatch.age.min', { n: minutes });
  if (minutes < 48 * 60) return t('dispatch.age.hour', { n: Math.round(minutes / 60) });
  return t('dispatch.age.day', { n: Math.round(minutes / 1440) });
}

export function distance(m: number): string {
  return m < 1000
    ? t('dispatch.candidates.m', { n: Math.round(m) })
    : t('dispatch.candidates.km', { n: (m / 1000).toFixed(1) });
}
