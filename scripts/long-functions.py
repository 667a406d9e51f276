#!/usr/bin/env python3
"""Counts the functions of src/ longer than a limit (lines from `fn` to its closing brace).

The project keeps at most three functions over 150 lines (`scripts/test.sh` runs this with
`--max 3`): a long function is split along its concepts. Functions inside `#[cfg(test)]`
modules are left out (a test may spell out a long scenario), and so are data tables: a
`const`/`static` is not a function, and a function whose whole body is one list literal
(`vec![…]`, `[…]`) is listed apart as a table and not counted.

    python3 scripts/long-functions.py               # every function over 150 lines
    python3 scripts/long-functions.py --max 3       # exit 1 when more than 3 are over
    python3 scripts/long-functions.py --lines 100   # another limit
"""

import argparse
import pathlib
import re
import sys

FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def blank_out(text):
    """The text with comments, strings and char literals replaced by spaces (newlines kept),
    so that braces and `fn` inside them do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "rb" and re.match(r"(br|r)#*\"", text[i:i + 40]) and not (
            i and (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            m = re.match(r"(br|r)(#*)\"", text[i:])
            close = '"' + m.group(2)
            j = text.find(close, i + len(m.group(0)))
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or (c == "b" and nxt == '"' and not (i and text[i - 1].isalnum())):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}', b'x'), or a lifetime ('a): left as is.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_ranges(clean):
    """Character ranges of `#[cfg(test)]` items (modules or functions)."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]", clean):
        start = clean.find("{", m.end())
        semi = clean.find(";", m.end())
        if start < 0 or (0 <= semi < start):
            continue
        end = matching(clean, start)
        ranges.append((m.start(), end))
    return ranges


def matching(clean, open_at):
    depth = 0
    for j in range(open_at, len(clean)):
        if clean[j] == "{":
            depth += 1
        elif clean[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(clean) - 1


def functions(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    clean = blank_out(text)
    tests = test_ranges(clean)
    for m in FN.finditer(clean):
        if any(a <= m.start() <= b for a, b in tests):
            continue
        # The body starts at the first `{` after the signature, unless a `;` comes first
        # (a trait method without a body).
        depth, j = 0, m.end()
        body = None
        while j < len(clean):
            ch = clean[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1
            elif ch == "-" and clean.startswith("->", j):
                j += 2
                continue
            elif ch == ";" and depth <= 0:
                break
            elif ch == "{" and depth <= 0:
                body = j
                break
            j += 1
        if body is None:
            continue
        end = matching(clean, body)
        first = clean.count("\n", 0, m.start()) + 1
        last = clean.count("\n", 0, end) + 1
        inner = clean[body + 1 : end].strip()
        table = bool(re.match(r"^(vec!\s*)?&?\[", inner)) and inner.endswith("]")
        yield m.group(1), first, last - first + 1, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=150, help="the length limit (default 150)")
    ap.add_argument("--max", type=int, help="exit 1 when more functions than this are over")
    ap.add_argument("--root", default="src", help="the directory to read (default src)")
    a = ap.parse_args()
    root = pathlib.Path(a.root)
    long, tables = [], []
    for p in sorted(root.rglob("*.rs")):
        for name, line, length, table in functions(p):
            if length > a.lines:
                (tables if table else long).append((length, f"{p}:{line}", name))
    long.sort(reverse=True)
    for length, where, name in long:
        print(f"{length:5d}  {where}  {name}")
    for length, where, name in sorted(tables, reverse=True):
        print(f"{length:5d}  {where}  {name}  (a data table: not counted)")
    print(f"{len(long)} function(s) over {a.lines} lines in {root}/")
    if a.max is not None and len(long) > a.max:
        print(
            f"more than {a.max} functions over {a.lines} lines: split the longest along its concepts",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
