#!/usr/bin/env python3
"""Checks the layering of the Rust crates (ARCHITECTURE.md, "Layers").

For each crate, every file's `crate::…` paths are read (comments stripped) and mapped to the
top-level module they name; files map to the top-level module they belong to. Then:

1. The graph of top-level modules has no circle: a circle may only be a module and its own
   children (files inside one folder may use each other; `cases` and `live` may not both use
   the other).
2. Only the modules named in ALLOWED_UPWARD may name the application layers (`http`, `state`,
   `cli`): a domain module never takes an HTTP type or the whole application state.
3. No SQL in the modules of NO_SQL (the HTTP handlers): queries live in `db/` or in a
   domain's store.

Prints the modules layer by layer (each uses only those on the lines above it) and exits 1 with
the offending files and lines when a rule is broken. Usage: scripts/check-layers.py [CRATE_SRC…]
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CRATES = ["server/src", "sim/src", "spatial/src"]

# Who may name the top layers. `http` is named by `cli` (the serve command builds the router);
# `state` by `http` and `cli`; `cli` by nobody but the binary's root.
ALLOWED_UPWARD = {
    "http": {"cli"},
    "state": {"http", "cli"},
    "cli": set(),
}

# Modules whose files may not run SQL themselves.
NO_SQL = {"http"}
SQL = re.compile(r"\bsqlx::query|\bquery(?:_as|_scalar)?!\s*\(")

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text: str) -> str:
    """Removes // and /* */ comments, keeping line numbers (string literals are rare enough in
    paths to ignore)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.split("\n"))


def grouped(text: str, start: int) -> list[str]:
    """The first segments of a `crate::{a, b::c, d}` group whose `{` is at `start`."""
    depth, i, item, heads = 0, start, "", []
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c == "}":
            depth -= 1
            if depth == 0:
                heads.append(item)
                break
        if depth == 1 and c == ",":
            heads.append(item)
            item = ""
        elif depth >= 1:
            item += c
        i += 1
    out = []
    for h in heads:
        m = re.match(r"\s*(" + IDENT + ")", h)
        if m:
            out.append(m.group(1))
    return out


def references(text: str):
    """(line, top-level module) for every `crate::name` path in `text`."""
    for m in re.finditer(r"\bcrate::(\{|" + IDENT + ")", text):
        line = text.count("\n", 0, m.start()) + 1
        if m.group(1) == "{":
            for name in grouped(text, m.start(1)):
                yield line, name
        else:
            yield line, m.group(1)


def module_of(src: Path, file: Path) -> str | None:
    rel = file.relative_to(src)
    if len(rel.parts) == 1:
        stem = rel.stem
        return None if stem in ("lib", "main") else stem
    return rel.parts[0]


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def layers(nodes, edges):
    """Modules by depth: layer 0 uses nothing, layer n uses only layers below n."""
    depth = {}

    def d(v, seen=()):
        if v in depth:
            return depth[v]
        if v in seen:
            return 0
        depth[v] = 1 + max((d(w, seen + (v,)) for w in edges[v]), default=-1)
        return depth[v]

    for v in nodes:
        d(v)
    by = defaultdict(list)
    for v, n in depth.items():
        by[n].append(v)
    return [sorted(by[n]) for n in sorted(by)]


def reexports(src: Path) -> dict[str, str]:
    """Names the crate root re-exports (`pub use module::{A, B}`), with their module, so that
    `crate::A` counts as a use of `module`."""
    out = {}
    for root in ("lib.rs", "main.rs"):
        f = src / root
        if not f.exists():
            continue
        text = strip_comments(f.read_text(encoding="utf-8"))
        for m in re.finditer(r"pub use (" + IDENT + r")::(\{[^}]*\}|" + IDENT + ")", text):
            for name in re.findall(IDENT, m.group(2)):
                out.setdefault(name, m.group(1))
    return out


def check(src: Path) -> list[str]:
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f) for f in files} - {None}
    names = reexports(src)
    nodes, edges, where = set(), defaultdict(set), defaultdict(list)
    sql_in = []
    for f in files:
        me = module_of(src, f)
        if me is None:
            continue
        nodes.add(me)
        text = strip_comments(f.read_text(encoding="utf-8"))
        if me in NO_SQL:
            for m in SQL.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                sql_in.append(f"{f.relative_to(ROOT)}:{line}")
        for line, name in references(text):
            name = name if name in modules else names.get(name)
            if name is None or name == me:
                continue
            edges[me].add(name)
            where[(me, name)].append(f"{f.relative_to(ROOT)}:{line}")
    problems = []
    for comp in sccs(nodes, edges):
        if len(comp) > 1:
            ties = [
                f"    {a} -> {b}: {', '.join(where[(a, b)][:3])}"
                for a in comp
                for b in sorted(edges[a])
                if b in comp
            ]
            problems.append(f"import circle between {', '.join(comp)}:\n" + "\n".join(ties))
    for top, allowed in ALLOWED_UPWARD.items():
        for me in sorted(nodes):
            if top in edges[me] and me not in allowed:
                problems.append(
                    f"{me} names crate::{top} (only {', '.join(sorted(allowed)) or 'the root'}"
                    f" may): {', '.join(where[(me, top)][:5])}"
                )
    if sql_in:
        problems.append(f"SQL in {', '.join(sorted(NO_SQL))} (move it to db/): {', '.join(sql_in)}")
    if not problems:
        print(f"{src.relative_to(ROOT)}: {len(nodes)} modules, no circles; layers, bottom up:")
        for i, layer in enumerate(layers(nodes, edges)):
            print(f"  {i}: {' '.join(layer)}")
    return problems


def main() -> int:
    crates = sys.argv[1:] or [c for c in DEFAULT_CRATES if (ROOT / c).is_dir()]
    problems = []
    for c in crates:
        problems += check(ROOT / c)
    for p in problems:
        print(f"layering: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
