"""The job spec (PROTOCOL.md § Spec): parsed and validated before anything heavy runs.

Every error names the field, says what was wrong and what to write instead. Unknown
fields are errors too: a typo such as `learningrate` must not silently train with the
default. Relative paths are resolved against the spec file's folder.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .errors import TrainerError
from .hp_schema import check_hyperparameters


@dataclass
class Hyperparameters:
    """Names, kinds and ranges: hyperparameters.schema.json (generated from the service's
    table; tests/test_hp_schema.py keeps the two in step). The defaults here are the
    trainer's own, for specs that leave a field out."""

    epochs: int = 3
    batchSize: int = 8
    microBatchSize: int | None = None
    learningRate: float | None = None  # None = 2e-4 for lora, 2e-5 for full
    lrScheduler: str = "cosine"
    warmupSteps: int | None = None
    warmupRatio: float | None = None
    weightDecay: float = 0.0
    maxGradNorm: float = 1.0
    seed: int = 42
    maxSeqLength: int = 512
    packing: bool = True
    loraRank: int = 8
    loraAlpha: float = 16.0
    loraDropout: float = 0.05
    loraTargetModules: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    evalEvery: int | None = None
    earlyStoppingPatience: int | None = None
    # Preference tuning and validation metrics (PROTOCOL.md § Job spec)
    beta: float = 0.1  # DPO: strength of the pull towards the reference model; ignored by SFT
    evalBatchEvery: int | None = None  # one validation batch every N steps; None = auto, 0 = never
    gradientCheckpointing: bool = False


@dataclass
class RuntimeOptions:
    device: str = "auto"
    dtype: str = "auto"
    threads: int | None = None
    compile: bool = False


@dataclass
class Spec:
    jobId: str
    method: str  # "lora" | "full" | "dpo"
    model_path: str
    train_path: str
    validation_path: str | None
    checkpoints_dir: str
    checkpoints_every: int
    checkpoints_keep: int
    output_dir: str
    merge_lora: bool
    export_onnx: bool
    hp: Hyperparameters
    runtime: RuntimeOptions
    trainable: str = "lora"  # which weights train: "lora" (adapters) or "full"
    init_weights: str | None = None  # continued training: full weights replacing the base's
    init_adapters: list = field(default_factory=list)  # continued training: adapters merged in order

    @property
    def dpo(self) -> bool:
        return self.method == "dpo"

    @property
    def learning_rate(self) -> float:
        if self.hp.learningRate is not None:
            return self.hp.learningRate
        if self.dpo:  # preference tuning moves far less from its start than SFT
            return 5e-5 if self.trainable == "lora" else 1e-6
        return 2e-4 if self.trainable == "lora" else 2e-5


def _fail(path: str, problem: str) -> TrainerError:
    return TrainerError("INVALID_SPEC", f"{path}: {problem}")


def _obj(value, path: str, known: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, f"must be a JSON object, got {type(value).__name__}")
    for k in value:
        if k not in known:
            raise _fail(f"{path}.{k}" if path else k, f"unknown field (known: {', '.join(sorted(known))})")
    for k in required:
        if k not in value:
            raise _fail(f"{path}.{k}" if path else k, "is required")
    return value


def _int(v, path, lo=None, hi=None, nullable=False):
    if v is None and nullable:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(path, f"must be an integer{' or null' if nullable else ''}, got {json.dumps(v)}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"≥ {lo}" if hi is None else f"between {lo} and {hi}"
        raise _fail(path, f"must be {rng}, got {v}")
    return v


def _bool(v, path):
    if not isinstance(v, bool):
        raise _fail(path, f"must be true or false, got {json.dumps(v)}")
    return v


def _enum(v, path, choices):
    if v not in choices:
        raise _fail(path, f"must be one of {', '.join(json.dumps(c) for c in choices)}, got {json.dumps(v)}")
    return v


def _path(v, path, base, nullable=False):
    if v is None and nullable:
        return None
    if not isinstance(v, str) or not v:
        raise _fail(path, f"must be a non-empty path string, got {json.dumps(v)}")
    return os.path.normpath(os.path.join(base, v))


def parse_spec(obj, base_dir: str = "/") -> Spec:
    top = _obj(
        obj,
        "",
        {
            "version",
            "jobId",
            "model",
            "method",
            "trainable",
            "data",
            "hyperparameters",
            "checkpoints",
            "output",
            "runtime",
        },
        {"version", "jobId", "model", "method", "data", "checkpoints", "output"},
    )
    if top["version"] != 1:
        raise _fail("version", f"must be 1 (this trainer speaks spec version 1), got {json.dumps(top['version'])}")
    if not isinstance(top["jobId"], str) or not top["jobId"]:
        raise _fail("jobId", "must be a non-empty string")
    model = _obj(top["model"], "model", {"path", "weights", "adapters"}, {"path"})
    data = _obj(top["data"], "data", {"train", "validation"}, {"train"})
    ck = _obj(top["checkpoints"], "checkpoints", {"dir", "every", "keep"}, {"dir"})
    out = _obj(top["output"], "output", {"dir", "mergeLora", "exportOnnx"}, {"dir"})
    method = _enum(top["method"], "method", ("lora", "full", "dpo"))
    trainable = _trainable(top.get("trainable"), method)

    raw = _obj(top.get("hyperparameters", {}), "hyperparameters", set(Hyperparameters.__dataclass_fields__))
    hp = Hyperparameters(**check_hyperparameters(raw))
    if hp.warmupSteps is not None and hp.warmupRatio is not None:
        raise _fail("hyperparameters.warmupRatio", "set warmupSteps or warmupRatio, not both")
    if hp.microBatchSize is not None and hp.microBatchSize > hp.batchSize:
        raise _fail("hyperparameters.microBatchSize", f"must be ≤ batchSize ({hp.batchSize}), got {hp.microBatchSize}")
    validation = _path(data.get("validation"), "data.validation", base_dir, nullable=True)
    if validation is None:
        for k in ("evalEvery", "earlyStoppingPatience"):
            if getattr(hp, k) is not None:
                raise _fail(
                    f"hyperparameters.{k}", "needs data.validation (a validation shard); set it or make this null"
                )

    rt = RuntimeOptions()
    raw_rt = _obj(top.get("runtime", {}), "runtime", set(RuntimeOptions.__dataclass_fields__))
    for k, v in raw_rt.items():
        if k == "device":
            v = _enum(v, "runtime.device", ("auto", "cpu", "cuda"))
        elif k == "dtype":
            v = _enum(v, "runtime.dtype", ("auto", "fp32", "bf16"))
        elif k == "threads":
            v = _int(v, "runtime.threads", 1, 1024, nullable=True)
        else:
            v = _bool(v, f"runtime.{k}")
        setattr(rt, k, v)

    merge = _bool(out.get("mergeLora", False), "output.mergeLora")
    export = _bool(out.get("exportOnnx", False), "output.exportOnnx")
    return Spec(
        jobId=top["jobId"],
        method=method,
        model_path=_path(model["path"], "model.path", base_dir),
        train_path=_path(data["train"], "data.train", base_dir),
        validation_path=validation,
        checkpoints_dir=_path(ck["dir"], "checkpoints.dir", base_dir),
        checkpoints_every=_int(ck.get("every", 0), "checkpoints.every", 0),
        checkpoints_keep=_int(ck.get("keep", 2), "checkpoints.keep", 1),
        output_dir=_path(out["dir"], "output.dir", base_dir),
        merge_lora=merge,
        export_onnx=export,
        hp=hp,
        runtime=rt,
        trainable=trainable,
        init_weights=_path(model.get("weights"), "model.weights", base_dir, nullable=True),
        init_adapters=_paths(model.get("adapters", []), "model.adapters", base_dir),
    )


def _trainable(v, method: str) -> str:
    """`trainable` says which weights a DPO job trains; lora and full jobs name theirs already."""
    if method == "dpo":
        return "lora" if v is None else _enum(v, "trainable", ("lora", "full"))
    if v is not None and v != method:
        raise _fail("trainable", f'method "{method}" trains {method} weights; omit trainable or set it to "{method}"')
    return method


def _paths(v, path, base) -> list[str]:
    if not isinstance(v, list):
        raise _fail(path, f"must be a list of folder paths, got {json.dumps(v)}")
    return [_path(x, f"{path}[{i}]", base) for i, x in enumerate(v)]


def load_spec(path: str) -> Spec:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except OSError as e:
        raise TrainerError("INVALID_SPEC", f"cannot read spec {path}: {e.strerror}") from None
    except ValueError as e:
        raise TrainerError("INVALID_SPEC", f"spec {path} is not valid JSON: {e}") from None
    return parse_spec(obj, os.path.dirname(os.path.abspath(path)))
