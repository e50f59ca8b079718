"""The network definitions, shared by training and inference (one definition, as in nanoGPT).

A saved model stores only its weights plus the architecture name and hyper-parameters
(`model.bundle`); loading rebuilds the network from this module. Changing a definition
therefore changes every model that uses its name: add a new name instead.

Families:
- ``cnn4``: the plain 4-conv + 2-FC CNN of the product's source studies (the baseline).
- ``vgg``: VGG-style blocks of two 3x3 conv + batch-norm + ReLU, max-pool and dropout per
  stage, then one hidden dense layer. Widths are a hyper-parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import layers

from model.labels import NUM_CLASSES
from model.preprocess import CROP_SIZE


def _head(x: Any, dense: int, dropout: float, num_classes: int) -> Any:
    x = layers.Flatten()(x)
    x = layers.Dense(dense, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    # The softmax runs in float32 even under a bf16 policy: bf16 probabilities are too coarse
    # (8 bits of mantissa) for the confidence thresholds the analysis applies.
    x = layers.Dense(num_classes)(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def _inputs() -> tuple[Any, Any]:
    inp = keras.Input(shape=(CROP_SIZE, CROP_SIZE, 1), name="face")
    return inp, layers.Rescaling(1.0 / 255.0)(inp)


def cnn4(
    widths: Sequence[int] = (32, 64, 128, 128),
    dense: int = 256,
    dropout: float = 0.5,
    num_classes: int = NUM_CLASSES,
) -> keras.Model:
    """Plain baseline: four conv layers (each followed by pooling) and two dense layers."""
    inp, x = _inputs()
    for width in widths:
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(num_classes)(x)
    out = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inp, out, name="cnn4")


def vgg(
    widths: Sequence[int] = (32, 64, 128, 256),
    dense: int = 256,
    dropout: float = 0.5,
    stage_dropout: float = 0.1,
    num_classes: int = NUM_CLASSES,
) -> keras.Model:
    """VGG blocks: per stage two 3x3 conv + BN + ReLU, 2x2 max-pool, light dropout."""
    inp, x = _inputs()
    for width in widths:
        for _ in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
        if stage_dropout:
            x = layers.Dropout(stage_dropout)(x)
    out = _head(x, dense, dropout, num_classes)
    return keras.Model(inp, out, name="vgg")


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {"cnn4": cnn4, "vgg": vgg}


def build(name: str, **hparams: Any) -> keras.Model:
    """Build a named architecture; raises ValueError for an unknown name or parameter."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    try:
        return ARCHITECTURES[name](**hparams)
    except TypeError as exc:
        raise ValueError(f"bad hyper-parameters for architecture {name!r}: {exc}") from exc
