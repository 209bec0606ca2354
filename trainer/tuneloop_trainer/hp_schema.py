"""The spec's `hyperparameters`, checked against hyperparameters.schema.json.

That file is generated from the service's hyperparameter table
(src/training/hyperparameter-table.ts, `npm run generate:hyperparameters`), so the trainer
and the service accept the same names, kinds and ranges. tests/test_hp_schema.py fails
when the committed file is stale or disagrees with `spec.Hyperparameters`.

Written by hand rather than with the `jsonschema` package: the trainer runs on whatever
Python has torch (Debian's python3-torch, GPU images), where jsonschema is usually absent,
and the generated file uses only the keywords below, which also lets each error say what
to write instead.
"""
from __future__ import annotations

import json
import math
import os
from functools import lru_cache

from .errors import TrainerError

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hyperparameters.schema.json")
KEYWORDS = {
    "type",
    "anyOf",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "description",
}


@lru_cache(maxsize=1)
def load_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


def _bounds(s: dict) -> str:
    lo = f"≥ {s['minimum']}" if "minimum" in s else f"> {s['exclusiveMinimum']}" if "exclusiveMinimum" in s else None
    hi = f"≤ {s['maximum']}" if "maximum" in s else f"< {s['exclusiveMaximum']}" if "exclusiveMaximum" in s else None
    return " and ".join(x for x in (lo, hi) if x)


def describe(s: dict) -> str:
    """What a value of schema `s` is, in words: "an integer ≥ 1 and ≤ 100 or null"."""
    if "anyOf" in s:
        return " or ".join(describe(b) for b in s["anyOf"])
    t = s["type"]
    if t == "null":
        return "null"
    if t == "boolean":
        return "true or false"
    if t == "string":
        return "one of " + ", ".join(json.dumps(v) for v in s["enum"])
    if t == "array":
        return "a non-empty list of " + ", ".join(json.dumps(v) for v in s["items"]["enum"])
    return " ".join(x for x in ("an integer" if t == "integer" else "a finite number", _bounds(s)) if x)


def _in_bounds(v, s: dict) -> bool:
    return not (
        ("minimum" in s and v < s["minimum"])
        or ("maximum" in s and v > s["maximum"])
        or ("exclusiveMinimum" in s and v <= s["exclusiveMinimum"])
        or ("exclusiveMaximum" in s and v >= s["exclusiveMaximum"])
    )


_MISSING = object()


def conform(v, s: dict):
    """`v` as the value schema `s` describes (ints for integers, floats for numbers), or _MISSING."""
    if "anyOf" in s:
        for branch in s["anyOf"]:
            out = conform(v, branch)
            if out is not _MISSING:
                return out
        return _MISSING
    t = s["type"]
    if t == "null":
        return None if v is None else _MISSING
    if t == "boolean":
        return v if isinstance(v, bool) else _MISSING
    if t == "string":
        return v if isinstance(v, str) and v in s["enum"] else _MISSING
    if t == "array":
        ok = isinstance(v, list) and len(v) >= s.get("minItems", 0)
        return list(v) if ok and all(conform(x, s["items"]) is not _MISSING for x in v) else _MISSING
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not _in_bounds(v, s):
        return _MISSING
    if t == "integer":
        return int(v) if float(v).is_integer() else _MISSING
    return float(v)


def check_hyperparameters(raw: dict) -> dict:
    """The spec's `hyperparameters` object, checked and typed; INVALID_SPEC names the field."""
    props = load_schema()["properties"]
    out = {}
    for k, v in raw.items():
        if k not in props:
            raise TrainerError("INVALID_SPEC", f"hyperparameters.{k}: unknown field (known: {', '.join(props)})")
        value = conform(v, props[k])
        if value is _MISSING:
            raise TrainerError(
                "INVALID_SPEC", f"hyperparameters.{k}: must be {describe(props[k])}, got {json.dumps(v)}"
            )
        out[k] = value
    return out
