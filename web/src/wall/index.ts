// The wall view. Mounted by the shell (main.ts) at /wall once a user is signed in.

import { followViewport } from '../live/viewport';
import type { MountView } from '../views/types';

export const mountWall: MountView = (ctx) => {
  const unfollow = followViewport(ctx.map, ctx.live, ['workers', 'vehicles', 'cases', 'alerts']);
  return () => {
    unfollow();
  };
};
