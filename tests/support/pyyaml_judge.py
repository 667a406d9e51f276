#!/usr/bin/env python3
"""The YAML 1.1 judge: does PyYAML (what most Python and Ansible tooling reads YAML with) read a
YAML stream as the documents the test meant?

Usage: pyyaml_judge.py EXPECTED.json < STREAM.yaml

EXPECTED.json is a JSON list with one entry per YAML document. Within it, a JSON string, true,
false and null stand for themselves; {"int": "123"} is an integer, {"float_bits": "N"} a
float64 given by its bit pattern, {"time": "RFC 3339"} a timestamp, {"map": [[key, value],
...]} a mapping (keys are strings, order kept), {"list": [...]} a sequence. Prints "ok", or
one line per difference naming its path, and exits 1.
"""
import datetime
import json
import math
import struct
import sys

import yaml


def expected(v):
    if isinstance(v, dict):
        if "int" in v:
            return int(v["int"])
        if "float_bits" in v:
            return struct.unpack("<d", struct.pack("<Q", int(v["float_bits"])))[0]
        if "time" in v:
            return datetime.datetime.fromisoformat(v["time"].replace("Z", "+00:00"))
        if "map" in v:
            return ("map", [(k, expected(x)) for k, x in v["map"]])
        if "list" in v:
            return ("list", [expected(x) for x in v["list"]])
    return v


def instant(t):
    if isinstance(t, datetime.datetime):
        return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime(t.year, t.month, t.day, tzinfo=datetime.timezone.utc)


def compare(path, want, got, out):
    if isinstance(want, tuple) and want[0] == "map":
        want = want[1]
        if not isinstance(got, dict):
            out.append(f"{path}: want a mapping, got {type(got).__name__}")
            return
        keys = list(got.keys())
        if [type(k) for k in keys] != [str] * len(keys):
            bad = [repr(k) for k in keys if not isinstance(k, str)]
            out.append(f"{path}: keys read as another type: {', '.join(bad)}")
        if [k for k, _ in want] != keys:
            out.append(f"{path}: keys {keys!r}, want {[k for k, _ in want]!r}")
            return
        for k, w in want:
            compare(f"{path}[{k!r}]", w, got[k], out)
    elif isinstance(want, tuple):
        items = want[1]
        if not isinstance(got, list) or len(got) != len(items):
            out.append(f"{path}: want a list of {len(items)}, got {got!r}")
            return
        for i, (w, g) in enumerate(zip(items, got)):
            compare(f"{path}[{i}]", w, g, out)
    elif isinstance(want, bool) or want is None:
        if got is not want:
            out.append(f"{path}: want {want!r}, got {got!r}")
    elif isinstance(want, int):
        if type(got) is not int or got != want:
            out.append(f"{path}: want int {want!r}, got {got!r}")
    elif isinstance(want, float):
        same = type(got) is float and (got == want or math.isnan(got) and math.isnan(want))
        if not same:
            out.append(f"{path}: want float {want!r}, got {got!r}")
    elif isinstance(want, datetime.datetime):
        if not isinstance(got, (datetime.date, datetime.datetime)) or instant(got) != want:
            out.append(f"{path}: want time {want!r}, got {got!r}")
    elif isinstance(want, str):
        if type(got) is not str or got != want:
            out.append(f"{path}: want str {want!r}, got {type(got).__name__} {got!r}")
    else:
        out.append(f"{path}: unknown expectation {want!r}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        want = [expected(d) for d in json.load(f)]
    text = sys.stdin.buffer.read().decode("utf-8")
    try:
        got = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        print(f"PyYAML cannot read it: {e}".replace("\n", " "))
        sys.exit(1)
    out = []
    if len(got) != len(want):
        out.append(f"{len(got)} documents, want {len(want)}")
    for i, (w, g) in enumerate(zip(want, got)):
        compare(f"doc{i}", w, {} if g is None else g, out)
    if out:
        print("\n".join(out))
        sys.exit(1)
    print("ok")


main()
