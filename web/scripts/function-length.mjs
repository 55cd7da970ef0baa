// Fails when a function in src/ is longer than the limit (default 150 lines, from its opening
// brace to its closing one; nested functions count towards the function they are in).
// A lexical check, not a parser: comments, strings and template text are blanked out, then a
// `{` is a function body when it follows `=>` or the `)` (and return type) of a function or
// method head. `node scripts/function-length.mjs [limit]`; `npm run check:functions`.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const LIMIT = Number(process.argv[2] ?? 150);
const ROOT = new URL('../src/', import.meta.url).pathname;
const KEYWORDS = new Set(['if', 'for', 'while', 'switch', 'catch', 'with', 'return', 'typeof', 'await']);

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [path] : [];
  });
}

/** The source with comments, string and template text replaced by spaces (newlines kept). */
function blank(src) {
  let out = '';
  let i = 0;
  const templates = []; // brace depth of each open `${`
  let depth = 0;
  const keep = (c) => (c === '\n' ? '\n' : ' ');
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      while (i < src.length && src[i] !== '\n') out += keep(src[i++]);
    } else if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      while (i < stop) out += keep(src[i++]);
    } else if (c === '"' || c === "'") {
      out += ' ';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') out += keep(src[i++]);
        out += keep(src[i++]);
      }
      out += ' ';
      i++;
    } else if (c === '`' || (c === '}' && templates.length > 0 && templates.at(-1) === depth)) {
      if (c === '}') templates.pop();
      out += ' ';
      i++;
      while (i < src.length && src[i] !== '`' && !(src[i] === '$' && src[i + 1] === '{')) {
        if (src[i] === '\\') out += keep(src[i++]);
        out += keep(src[i++]);
      }
      if (src[i] === '$') {
        templates.push(depth);
        out += '  ';
        i += 2;
      } else {
        out += ' ';
        i++;
      }
    } else {
      if (c === '{') depth++;
      if (c === '}') depth--;
      out += c;
      i++;
    }
  }
  return out;
}

/** Whether the `{` at `at` opens a function body. */
function opensFunction(code, at) {
  const before = code.slice(Math.max(0, at - 600), at).replace(/\s+$/, '');
  if (before.endsWith('=>')) return true;
  // Strip a return type: `): Promise<void>`, `): T[]`.
  const m = /\)\s*(?::\s*[\w$.<>,[\]|&\s]+)?$/.exec(before);
  if (!m) return false;
  let i = m.index;
  let parens = 0;
  for (; i >= 0; i--) {
    if (before[i] === ')') parens++;
    else if (before[i] === '(') {
      parens--;
      if (parens === 0) break;
    }
  }
  if (i < 0) return false;
  const head = /([\w$]+)\s*(?:<[^()]*>)?\s*$/.exec(before.slice(0, i));
  return head !== null && !KEYWORDS.has(head[1]);
}

const lineOf = (code, at) => code.slice(0, at).split('\n').length;
let failures = 0;
for (const path of files(ROOT)) {
  const code = blank(readFileSync(path, 'utf8'));
  const stack = [];
  for (let at = 0; at < code.length; at++) {
    if (code[at] === '{') stack.push({ at, fn: opensFunction(code, at) });
    else if (code[at] === '}') {
      const open = stack.pop();
      if (!open?.fn) continue;
      // Only the outermost function of a nest is measured: it holds the inner ones.
      if (stack.some((s) => s.fn)) continue;
      const lines = lineOf(code, at) - lineOf(code, open.at) + 1;
      if (lines > LIMIT) {
        failures++;
        console.error(`${relative(process.cwd(), path)}:${lineOf(code, open.at)}: function of ${lines} lines (limit ${LIMIT})`);
      }
    }
  }
}
if (failures > 0) process.exit(1);
console.log(`no function in src/ over ${LIMIT} lines`);
