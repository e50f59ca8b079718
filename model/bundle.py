"""Save and load a trained model as a folder: ``weights.weights.h5`` + ``meta.json``.

The folder records everything inference needs to reproduce evaluation: architecture name
and hyper-parameters (rebuilt from `model.architectures`, the single definition), labels,
input and crop sizes, preprocessing, test-time augmentation, and the measured metrics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model.labels import LABELS
from model.preprocess import CROP_SIZE, DEFAULT_MARGIN, IMAGE_SIZE

WEIGHTS_FILE = "weights.weights.h5"
META_FILE = "meta.json"
#: The model shipped with the project (committed under model/emotion).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "emotion"


class ModelError(ValueError):
    """A model folder is missing, incomplete or incompatible; the message says which."""


@dataclass(frozen=True)
class ModelMeta:
    architecture: str
    hparams: dict[str, Any]
    labels: tuple[str, ...] = LABELS
    image_size: int = IMAGE_SIZE
    crop_size: int = CROP_SIZE
    preprocessing: str = "gray48 -> centre crop 44 -> /255 inside the network"
    face_margin: float = DEFAULT_MARGIN
    tta: str = "flip"  # "none" | "flip"
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    #: For ``architecture == "ensemble"``: sub-folders (model folders themselves) whose
    #: probabilities are averaged. Empty for a single network.
    members: tuple[str, ...] = ()
    #: Temperature scaling and the "uncertain" threshold fitted on val (`training.calibrate`):
    #: keys ``temperature`` and ``uncertain_below``; empty for an uncalibrated model.
    calibration: dict[str, Any] = field(default_factory=dict)
    #: Human-readable model name (e.g. "vgg-path-2026-11-26"); `model_version` adds a weights hash.
    version: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["members"] = list(self.members)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> ModelMeta:
        try:
            meta = cls(**{**data, "labels": tuple(data["labels"]), "members": tuple(data.get("members", ()))})
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{where}: invalid meta.json ({exc})") from None
        if meta.labels != LABELS:
            raise ModelError(f"{where}: model labels {list(meta.labels)} differ from {list(LABELS)}")
        if meta.tta not in ("none", "flip"):
            raise ModelError(f"{where}: unknown tta {meta.tta!r}")
        if (meta.architecture == "ensemble") != bool(meta.members):
            raise ModelError(f"{where}: an ensemble needs members, and only an ensemble has them")
        return meta


def read_meta(model_dir: str | Path) -> ModelMeta:
    path = Path(model_dir) / META_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{model_dir}: no {META_FILE}; not a ClassPulse model folder") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from None
    return ModelMeta.from_dict(data, str(path))


def save(model: Any, meta: ModelMeta, model_dir: str | Path) -> Path:
    """Write weights and metadata; the folder is created if needed."""
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out / WEIGHTS_FILE))
    (out / META_FILE).write_text(meta.to_json() + "\n")
    return out


def load_networks(model_dir: str | Path | None = None, *, policy: str | None = None,
                  ) -> tuple[list[Any], ModelMeta]:
    """All networks of a model folder: one for a single model, several for an ensemble."""
    model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    meta = read_meta(model_dir)
    if meta.architecture != "ensemble":
        model, _ = load(model_dir, policy=policy)
        return [model], meta
    nets = []
    for member in meta.members:
        sub_meta = read_meta(model_dir / member)
        if sub_meta.architecture == "ensemble":
            raise ModelError(f"{model_dir / member}: nested ensembles are not supported")
        if (sub_meta.crop_size, sub_meta.image_size) != (meta.crop_size, meta.image_size):
            raise ModelError(f"{model_dir / member}: input size differs from the ensemble's")
        nets.append(load(model_dir / member, policy=policy)[0])
    return nets, meta


def load(model_dir: str | Path | None = None, *, policy: str | None = None) -> tuple[Any, ModelMeta]:
    """Rebuild the network from its definition and load its weights.

    `policy` is a Keras dtype policy for inference (``"mixed_bfloat16"`` is about 5x faster
    on CPUs with AMX/AVX-512 BF16; ``"float32"`` elsewhere). None keeps the global policy.
    """
    import keras

    from model.architectures import build

    model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    meta = read_meta(model_dir)
    weights = model_dir / WEIGHTS_FILE
    if not weights.exists():
        raise ModelError(f"{model_dir}: no {WEIGHTS_FILE}")
    previous = keras.mixed_precision.global_policy()
    if policy is not None:
        keras.mixed_precision.set_global_policy(policy)
    try:
        model = build(meta.architecture, **meta.hparams)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    try:
        model.load_weights(str(weights))
    except (ValueError, OSError) as exc:
        raise ModelError(f"{weights}: weights do not fit architecture {meta.architecture!r} ({exc})") from None
    return model, meta


def model_version(model_dir: str | Path | None = None) -> str:
    """A string that changes whenever the model does: its name and a hash of its weights.

    Sessions record it beside their readings, so a report or a term trend can say when the
    model changed. The hash covers the weights, the calibration and the test-time augmentation
    (everything that changes a reading). Example: ``vgg-path-ft@3f2a9c01b7de``.
    """
    model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    meta = read_meta(model_dir)
    digest = hashlib.sha256()
    folders = [model_dir / m for m in meta.members] if meta.members else [model_dir]
    for folder in folders:
        weights = folder / WEIGHTS_FILE
        if not weights.exists():
            raise ModelError(f"{folder}: no {WEIGHTS_FILE}")
        digest.update(weights.read_bytes())
    # The outputs also depend on the calibration and the test-time augmentation.
    digest.update(json.dumps([meta.calibration.get("temperature"), meta.calibration.get("uncertain_below"),
                              meta.tta]).encode())
    return f"{meta.version or meta.architecture}@{digest.hexdigest()[:12]}"
