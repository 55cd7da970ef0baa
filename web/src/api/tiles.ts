// The unit tiles' TileJSON (`/tiles/units.json`). Not JSON API (a 401 or 5xx comes without the
// error body), but the same session rules: a 401 means the session has ended.

import { parseUnitsTileJson, type UnitsTileJson } from '../map/tilejson';
import { ApiError, INVALID_ANSWER } from './error';
import { send } from './request';

/** Loads and checks the TileJSON at `url`; relative tile URLs are resolved against it. */
export async function fetchUnitsTileJson(url: string): Promise<UnitsTileJson> {
  const absolute = new URL(url, window.location.href).href;
  // `no-cache`: the document depends on the signed-in user's territory, so always revalidate.
  const response = await send('GET', absolute, { cache: 'no-cache' });
  if (!response.ok) {
    await response.arrayBuffer().catch(() => undefined);
    throw new ApiError(response.status, `http_${response.status}`, `HTTP ${response.status}`);
  }
  let doc: unknown;
  try {
    doc = await response.json();
  } catch {
    throw new ApiError(response.status, INVALID_ANSWER, 'not valid JSON');
  }
  return parseUnitsTileJson(doc, absolute);
}
