// Bounds of GeoJSON geometries, for fitting the map to a unit.

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
