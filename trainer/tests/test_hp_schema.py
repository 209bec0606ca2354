"""spec.Hyperparameters against hyperparameters.schema.json (generated from the service's
hyperparameter table; test/training/hyperparameter-table.test.ts fails when it is stale)."""
from __future__ import annotations

import dataclasses
import math

import pytest

from tuneloop_trainer.errors import TrainerError
from tuneloop_trainer.hp_schema import KEYWORDS, _MISSING, conform, load_schema
from tuneloop_trainer.spec import Hyperparameters, parse_spec

PY_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "array": "list"}


def _keywords(node, path="$"):
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k
            if k == "anyOf":
                for i, b in enumerate(v):
                    yield from _keywords(b, f"{path}.anyOf[{i}]")
            elif k == "items":
                yield from _keywords(v, f"{path}.items")


def _value_schema(s: dict) -> tuple[dict, bool]:
    """(the non-null branch, whether null is allowed)."""
    if "anyOf" in s:
        branches = [b for b in s["anyOf"] if b.get("type") != "null"]
        assert len(branches) == 1, s
        return branches[0], True
    return s, False


def test_schema_uses_only_the_keywords_the_trainer_checks():
    for name, s in load_schema()["properties"].items():
        unknown = {k for _, k in _keywords(s)} - KEYWORDS
        assert not unknown, f"{name} uses {unknown}: teach hp_schema.py or keep the table to the subset"


def test_dataclass_fields_match_the_schema():
    props = load_schema()["properties"]
    fields = {f.name: f for f in dataclasses.fields(Hyperparameters)}
    assert set(fields) == set(
        props
    ), f"only in spec.py: {set(fields) - set(props)}, only in the schema: {set(props) - set(fields)}"
    for name, f in fields.items():
        value, nullable = _value_schema(props[name])
        annotation = str(f.type).replace(" ", "")
        expected = PY_TYPES[value["type"]] + ("|None" if nullable else "")
        assert annotation == expected, f"{name}: spec.py says {f.type}, the schema says {expected}"
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        assert conform(default, props[name]) is not _MISSING, f"{name}: default {default!r} is outside the schema"


SPEC = {
    "version": 1,
    "jobId": "ftjob_x",
    "model": {"path": "m"},
    "method": "full",
    "data": {"train": "t"},
    "checkpoints": {"dir": "c"},
    "output": {"dir": "o"},
}


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("learningRate", math.inf, "must be a finite number > 0 and ≤ 1 or null, got Infinity"),
        ("learningRate", "1e400", 'got "1e400"'),
        ("epochs", True, "must be an integer ≥ 1 and ≤ 100, got true"),
        ("epochs", "3", 'got "3"'),
        ("packing", "", 'must be true or false, got ""'),
        ("lrScheduler", "cosin", 'one of "cosine", "linear", "constant"'),
        ("loraTargetModules", [], "a non-empty list of"),
        ("maxSeqLength", 8, "≥ 16"),
    ],
)
def test_bad_values_name_the_field(field, value, fragment):
    with pytest.raises(TrainerError) as e:
        parse_spec({**SPEC, "hyperparameters": {field: value}})
    assert e.value.code == "INVALID_SPEC"
    assert f"hyperparameters.{field}: " in e.value.message and fragment in e.value.message, e.value.message


def test_values_are_typed_as_the_dataclass_says():
    hp = parse_spec({**SPEC, "hyperparameters": {"learningRate": 1, "epochs": 2.0, "gradientCheckpointing": True}}).hp
    assert hp.learningRate == 1.0 and isinstance(hp.learningRate, float)
    assert hp.epochs == 2 and isinstance(hp.epochs, int)
    assert hp.gradientCheckpointing is True
