#!/usr/bin/env python3
"""Generate proto/schema/params-2026.9.6.json: the 2026.9.6 `...Params` definitions the
gateway's method registry names (`Schema96("...")` in src/rpc/), for the params-error walker.

Run from the repository root (/work/main):  python3 proto/gen/gen_params.py
Reads ../shared/schema/protocol-2026.9.6.schema.json (override with argv[1]). Property order is
kept (the walker reports errors in schema order, as the Node gateway does); descriptions are
dropped; the export's `{"type": "enum", "enum": {name: value}}` is written as `{"enum": [values]}`.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SCHEMA = os.path.join(ROOT, "..", "shared", "schema", "protocol-2026.9.6.schema.json")
OUT = os.path.join(ROOT, "proto", "schema", "params-2026.9.6.json")
DROP = {"description", "deprecated", "x-openclaw-since", "title", "examples"}


def registry_names():
    names = set()
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src", "rpc")):
        for f in files:
            if f.endswith(".rs"):
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    names.update(re.findall(r'Schema96\("([A-Za-z0-9]+)"\)', fh.read()))
    return sorted(names)


def clean(v, in_props=False):
    if isinstance(v, list):
        return [clean(x) for x in v]
    if not isinstance(v, dict):
        return v
    out = {}
    for k, x in v.items():
        if not in_props and k in DROP:
            continue
        if k in ("properties", "patternProperties") and not in_props:
            out[k] = {name: clean(s) for name, s in x.items()}
        else:
            out[k] = clean(x)
    if isinstance(out.get("enum"), dict):
        out["enum"] = list(out["enum"].values())
        if out.get("type") == "enum":
            del out["type"]
    if "$ref" in out:
        sys.exit(f"$ref is not supported by the walker: {out['$ref']}")
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SCHEMA
    with open(path, encoding="utf-8") as f:
        defs = json.load(f)["definitions"]
    names = registry_names()
    missing = [n for n in names if n not in defs]
    if missing:
        sys.exit(f"not in the schema export: {missing}")
    out = {n: clean(defs[n]) for n in names}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    print(f"{OUT}: {len(out)} definitions")


if __name__ == "__main__":
    main()
