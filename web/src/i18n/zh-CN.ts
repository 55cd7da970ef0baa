// 简体中文 — the primary UI language. Terms follow shared/GLOSSARY.md.

export const zhCN = {
  'app.title': 'Gridwall 一张图',
  'app.subtitle': '行政区划与网格',
  'level.0': '市',
  'level.1': '县（市、区）',
  'level.2': '乡镇（街道）',
  'level.3': '村（社区）',
  'level.4': '网格',
  'legend.title': '图例',
  'panel.hint': '将鼠标移到地图上的单元查看详情，点击可固定。',
  'panel.pinned': '已固定（再次点击空白处取消）',
  'panel.name': '名称',
  'panel.code': '代码',
  'panel.level': '层级',
  'lang.toggle': 'English',
  'lang.toggle.label': '切换到英文界面',
  'map.zoomIn': '放大',
  'map.zoomOut': '缩小',
  'error.tilejson': '无法加载地图数据（{url}）：{reason}',
  'error.map': '地图出错：{reason}',
} as const;

/** Every message key the UI uses; the zh-CN table is the reference. */
export type MessageKey = keyof typeof zhCN;
