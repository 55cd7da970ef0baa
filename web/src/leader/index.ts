// The leader view. Mounted by the shell (main.ts) at /leader once a user is signed in.

import { followViewport } from '../live/viewport';
import type { MountView } from '../views/types';

export const mountLeader: MountView = (ctx) => {
  const unfollow = followViewport(ctx.map, ctx.live, ['workers', 'vehicles', 'cases', 'alerts']);
  return () => {
    unfollow();
  };
};
