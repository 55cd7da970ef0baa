// UI strings in two languages, Chinese first. The language is chosen once from `?lang=`
// (or the browser's language) and can be switched at run time; map labels are data and
// stay in Chinese whatever the UI language.

import { en } from './en';
import { zhCN, type MessageKey } from './zh-CN';

export type { MessageKey } from './zh-CN';

/** The UI languages, as BCP 47 tags (also used for `<html lang>`). */
export type Lang = 'zh-CN' | 'en';

const tables: Record<Lang, Record<MessageKey, string>> = { 'zh-CN': zhCN, en };

type Listener = (lang: Lang) => void;

let current: Lang = 'zh-CN';
const listeners = new Set<Listener>();

/** Maps a language tag such as `en-GB` or `zh-Hans-CN` to a UI language, if we have one. */
export function parseLang(tag: string | null | undefined): Lang | undefined {
  const t = tag?.trim().toLowerCase();
  if (!t) return undefined;
  if (t.startsWith('zh')) return 'zh-CN';
  if (t.startsWith('en')) return 'en';
  return undefined;
}

/**
 * The language to start with: `?lang=` wins, then the browser's preferred languages in
 * order, and Chinese when none of them is one we have.
 */
export function detectLang(search: string, preferred: readonly string[]): Lang {
  const fromQuery = parseLang(new URLSearchParams(search).get('lang'));
  if (fromQuery) return fromQuery;
  for (const tag of preferred) {
    const lang = parseLang(tag);
    if (lang) return lang;
  }
  return 'zh-CN';
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(zhCN, key);
}

export function lang(): Lang {
  return current;
}

/** Switches the UI language and tells every subscriber, so the page re-labels itself. */
export function setLang(next: Lang): void {
  if (next === current) return;
  current = next;
  for (const listener of listeners) listener(next);
}

/** Calls `listener` now and on every language change; returns an unsubscribe function. */
export function onLangChange(listener: Listener): () => void {
  listeners.add(listener);
  listener(current);
  return () => listeners.delete(listener);
}

/** The message for `key` in the current language, with `{name}` placeholders filled in. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const template = tables[current][key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}
