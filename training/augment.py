"""Batch augmentation for 48x48 face patches, as TensorFlow ops inside the tf.data pipeline.

Random 44x44 crop (translation), horizontal flip, small rotation, brightness/contrast
jitter and random erasing — the recipe that worked for small CNNs on FER-2013 (see
`../shared/notes/FER.md`). Every op is per image, so one batch mixes all variants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from model.preprocess import CROP_SIZE, IMAGE_SIZE


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 15.0
    brightness: float = 0.2  # fraction of 255 added or removed
    contrast: float = 0.25  # contrast factor in [1 - c, 1 + c]
    erase_prob: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)


def _rotate(x: Any, max_deg: float) -> Any:
    """Rotate each image about its centre by a uniform angle in ±max_deg (reflect fill)."""
    n = tf.shape(x)[0]
    ang = tf.random.uniform([n], -max_deg, max_deg) * (math.pi / 180.0)
    cos, sin = tf.cos(ang), tf.sin(ang)
    c = (IMAGE_SIZE - 1) / 2.0
    # Projective transform rows [a0, a1, a2, b0, b1, b2, 0, 0] mapping output → input pixels.
    a2 = c - cos * c + sin * c
    b2 = c - sin * c - cos * c
    zeros = tf.zeros_like(cos)
    transforms = tf.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=tf.constant([IMAGE_SIZE, IMAGE_SIZE]),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT",
    )


def _erase(x: Any, prob: float, area: tuple[float, float]) -> Any:
    """Random erasing: with probability `prob`, fill one random rectangle with noise."""
    n = tf.shape(x)[0]
    size = float(CROP_SIZE)
    frac = tf.random.uniform([n], area[0], area[1])
    aspect = tf.exp(tf.random.uniform([n], math.log(0.3), math.log(3.3)))
    h = tf.clip_by_value(tf.sqrt(frac * size * size * aspect), 1.0, size)
    w = tf.clip_by_value(tf.sqrt(frac * size * size / aspect), 1.0, size)
    y0 = tf.random.uniform([n]) * (size - h)
    x0 = tf.random.uniform([n]) * (size - w)
    grid = tf.range(size)
    in_y = (grid[None, :] >= y0[:, None]) & (grid[None, :] < (y0 + h)[:, None])
    in_x = (grid[None, :] >= x0[:, None]) & (grid[None, :] < (x0 + w)[:, None])
    mask = in_y[:, :, None] & in_x[:, None, :]
    mask &= (tf.random.uniform([n]) < prob)[:, None, None]
    noise = tf.random.uniform(tf.shape(x), 0.0, 255.0)
    return tf.where(mask[..., None], noise, x)


def augment_batch(x: Any, cfg: AugmentConfig = AugmentConfig()) -> Any:
    """(N, 48, 48, 1) float32 0..255 → (N, 44, 44, 1) augmented training input."""
    n = tf.shape(x)[0]
    if cfg.rotation_deg:
        x = _rotate(x, cfg.rotation_deg)
    x = tf.image.random_flip_left_right(x)
    # Per-image random crop via a batched gather of offsets.
    max_off = IMAGE_SIZE - CROP_SIZE + 1
    oy = tf.random.uniform([n], 0, max_off, dtype=tf.int32)
    ox = tf.random.uniform([n], 0, max_off, dtype=tf.int32)
    idx = tf.range(CROP_SIZE)
    rows = oy[:, None] + idx[None, :]
    cols = ox[:, None] + idx[None, :]
    x = tf.gather(x, rows, axis=1, batch_dims=1)
    x = tf.gather(x, cols, axis=2, batch_dims=1)
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    contrast = tf.random.uniform([n, 1, 1, 1], 1 - cfg.contrast, 1 + cfg.contrast)
    bright = tf.random.uniform([n, 1, 1, 1], -cfg.brightness, cfg.brightness) * 255.0
    x = tf.clip_by_value((x - mean) * contrast + mean + bright, 0.0, 255.0)
    if cfg.erase_prob:
        x = _erase(x, cfg.erase_prob, cfg.erase_area)
    return x
