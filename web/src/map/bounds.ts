// Bounds of GeoJSON geometries and of point lists, for fitting the map to a unit, a case and
// its candidates, or a track.

/** `[west, south, east, north]` of the coordinates of GeoJSON geometries (any nesting). */
export function bboxOf(...geometries: unknown[]): [number, number, number, number] | undefined {
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  const walk = (c: unknown): void => {
    if (!Array.isArray(c)) return;
    if (typeof c[0] === 'number' && typeof c[1] === 'number') {
      w = Math.min(w, c[0]);
      e = Math.max(e, c[0]);
      s = Math.min(s, c[1]);
      n = Math.max(n, c[1]);
      return;
    }
    for (const inner of c) walk(inner);
  };
  for (const g of geometries) walk((g as { coordinates?: unknown } | null)?.coordinates);
  return Number.isFinite(w) ? [w, s, e, n] : undefined;
}

/** `[west, south, east, north]` of `[lng, lat]` points, or `undefined` for none. */
export function bboxOfPoints(points: ReadonlyArray<readonly [number, number]>): [number, number, number, number] | undefined {
  return bboxOf({ coordinates: points });
}
