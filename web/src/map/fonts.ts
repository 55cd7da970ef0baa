// Label fonts without a glyph server.
//
// The style has no `glyphs` URL, so MapLibre GL JS (≥ 5.11) draws every glyph in the
// browser with TinySDF from locally installed fonts, and `text-font` is read as a CSS
// font-family list. Nothing is fetched for labels, which keeps the page working on a closed
// network. The families below are the common CJK system fonts on the machines a command
// center uses (Linux/Debian: Noto CJK or WenQuanYi; Windows: Microsoft YaHei; macOS: PingFang);
// MapLibre appends `sans-serif` as the last resort. Their Latin glyphs cover the digits and
// letters that appear in grid names, so mixed names are drawn in one face.
//
// Font weight comes from a keyword in the *first* family name (`… Bold`); that name need not
// exist, the weight then applies to the rest of the list.

const CJK_FAMILIES = [
  'Noto Sans CJK SC',
  'Source Han Sans SC',
  'Microsoft YaHei',
  'PingFang SC',
  'Hiragino Sans GB',
  'WenQuanYi Zen Hei',
] as const;

/** `text-font` for regular labels. */
export const LABEL_FONT_REGULAR: string[] = [...CJK_FAMILIES];

/** `text-font` for bold labels (county and city): the first name only carries the weight. */
export const LABEL_FONT_BOLD: string[] = [`${CJK_FAMILIES[0]} Bold`, ...CJK_FAMILIES];

/**
 * The map's `localIdeographFontFamily`, a CSS font-family list. MapLibre uses it for CJK
 * characters of layers on its default font stack; ours name their own stack, but setting it
 * keeps CJK local even if a `glyphs` URL is added to the style later.
 */
export const LOCAL_IDEOGRAPH_FONT_FAMILY: string = [
  ...CJK_FAMILIES.map((f) => `"${f}"`),
  'sans-serif',
].join(', ');
