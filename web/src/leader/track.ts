// Track playback: where a resource was at a time between its first and last fix, by linear
// interpolation between the two fixes around it (positions [lng, lat], times in ms).

import type { Track } from '../api';

/** The index of the last fix at or before `t` (0 before the first). */
function fixBefore(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((times[mid] ?? Infinity) <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The position at time `t` (clamped to the track's span); undefined for an empty track. */
export function positionAt(track: Track, t: number): [number, number] | undefined {
  const { path, times } = track;
  if (path.length === 0) return undefined;
  const i = fixBefore(times, t);
  const a = path[i];
  const b = path[i + 1];
  const ta = times[i];
  const tb = times[i + 1];
  if (!a) return undefined;
  if (!b || ta === undefined || tb === undefined || tb <= ta || t <= ta) return [a[0], a[1]];
  const f = Math.min(1, (t - ta) / (tb - ta));
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
}

/** [first, last] fix time in ms; undefined for an empty track. */
export function spanOf(track: Track): [number, number] | undefined {
  const first = track.times[0];
  const last = track.times[track.times.length - 1];
  return first === undefined || last === undefined ? undefined : [first, last];
}
