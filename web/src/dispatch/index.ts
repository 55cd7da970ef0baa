// The dispatch view. Mounted by the shell (main.ts) at /dispatch once a user is signed in.

import { followViewport } from '../live/viewport';
import type { MountView } from '../views/types';

export const mountDispatch: MountView = (ctx) => {
  const unfollow = followViewport(ctx.map, ctx.live, ['workers', 'vehicles', 'cases', 'alerts']);
  return () => {
    unfollow();
  };
};
