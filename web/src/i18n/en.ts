// English — the second UI language. Terms follow shared/GLOSSARY.md.

import type { MessageKey } from './zh-CN';

export const en: Record<MessageKey, string> = {
  'app.title': 'Gridwall one map',
  'app.subtitle': 'Administrative units and grids',
  'level.0': 'City',
  'level.1': 'County',
  'level.2': 'Township',
  'level.3': 'Village',
  'level.4': 'Grid',
  'legend.title': 'Legend',
  'panel.hint': 'Hover over a unit on the map to see it; click to pin.',
  'panel.pinned': 'Pinned (click an empty spot to release)',
  'panel.name': 'Name',
  'panel.code': 'Code',
  'panel.level': 'Level',
  'lang.toggle': '中文',
  'lang.toggle.label': 'Switch to the Chinese interface',
  'map.zoomIn': 'Zoom in',
  'map.zoomOut': 'Zoom out',
  'error.tilejson': 'Could not load the map data ({url}): {reason}',
  'error.map': 'Map error: {reason}',
};
