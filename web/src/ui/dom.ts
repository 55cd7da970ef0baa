// A small helper for building DOM without HTML strings: text is always set as text, and
// styling goes through classes (the page's CSP forbids inline style attributes in markup).

export interface ElementOptions {
  className?: string;
  text?: string;
  /** Attributes set with `setAttribute` (`id`, `type`, `autocomplete`, `aria-*`, …). */
  attrs?: Record<string, string>;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElementOptions = {},
  children: ReadonlyArray<Node> = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = options.text;
  for (const [name, value] of Object.entries(options.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
