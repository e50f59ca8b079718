"""Batch augmentation for 48x48 face patches, as TensorFlow ops inside the tf.data pipeline.

Two recipes, both per image so one batch mixes all variants:

- ``augment_batch`` ("fer"): random 44x44 crop (translation), horizontal flip, small
  rotation, brightness/contrast jitter and random erasing — the recipe that worked for small
  CNNs on FER-2013 (see `../shared/notes/FER.md`).
- ``augment_path`` ("path"): what the production path does to a face that FER-2013 never
  showed — the detector's framing varies (scale and aspect jitter, shifts, small rotations
  left after the eye-line correction), webcams and photos differ in resolution, sharpness,
  compression and exposure (down-and-up sampling, blur or sharpening, JPEG, gamma, wider
  contrast), and hands, glasses and hair cover parts of the face (occlusion by noise or a flat
  patch).
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


@dataclass(frozen=True)
class PathAugmentConfig:
    rotation_deg: float = 12.0
    scale: tuple[float, float] = (0.85, 1.2)  # zoom: >1 shows the face larger (a tighter box)
    aspect: float = 0.12  # x/y scale ratio in exp(±aspect)
    shift_px: float = 3.0
    low_res_prob: float = 0.25
    low_res_px: tuple[int, int] = (16, 32)  # side the face is reduced to before upsampling
    sharpness: tuple[float, float] = (-0.8, 1.0)  # unsharp amount: < 0 blurs, > 0 sharpens
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (20, 90)
    gamma: float = 0.4  # gamma in exp(±gamma)
    brightness: float = 0.2
    contrast: tuple[float, float] = (0.55, 1.3)
    erase_prob: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.25)


def _affine_crop(x: Any, cfg: PathAugmentConfig) -> Any:
    """Rotate, zoom, stretch and shift each 48x48 image, sampling a centred 44x44 output."""
    n = tf.shape(x)[0]
    ang = tf.random.uniform([n], -cfg.rotation_deg, cfg.rotation_deg) * (math.pi / 180.0)
    zoom = tf.exp(tf.random.uniform([n], math.log(cfg.scale[0]), math.log(cfg.scale[1])))
    ratio = tf.exp(tf.random.uniform([n], -cfg.aspect, cfg.aspect))
    sx, sy = 1.0 / (zoom * tf.sqrt(ratio)), 1.0 / (zoom / tf.sqrt(ratio))  # input px per output px
    tx = tf.random.uniform([n], -cfg.shift_px, cfg.shift_px)
    ty = tf.random.uniform([n], -cfg.shift_px, cfg.shift_px)
    cos, sin = tf.cos(ang), tf.sin(ang)
    ci, co = (IMAGE_SIZE - 1) / 2.0, (CROP_SIZE - 1) / 2.0
    # input = R(ang) @ diag(sx, sy) @ (out - co) + ci + t
    a0, a1 = cos * sx, -sin * sy
    b0, b1 = sin * sx, cos * sy
    a2 = ci + tx - a0 * co - a1 * co
    b2 = ci + ty - b0 * co - b1 * co
    zeros = tf.zeros_like(cos)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=tf.constant([CROP_SIZE, CROP_SIZE]),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT",
    )


def _low_res(x: Any, prob: float, sizes: tuple[int, int]) -> Any:
    """Down- and up-sample a random subset of the batch (one random size per batch)."""
    n = tf.shape(x)[0]
    side = tf.random.uniform([], sizes[0], sizes[1] + 1, dtype=tf.int32)
    small = tf.image.resize(x, tf.stack([side, side]), method="area")
    back = tf.image.resize(small, [CROP_SIZE, CROP_SIZE], method="bilinear")
    pick = tf.random.uniform([n, 1, 1, 1]) < prob
    return tf.where(pick, back, x)


_BLUR = tf.constant([[1.0, 4.0, 6.0, 4.0, 1.0]]) / 16.0


def _sharpness(x: Any, amount: tuple[float, float]) -> Any:
    """Unsharp mask with a per-image amount: negative blurs, positive sharpens."""
    n = tf.shape(x)[0]
    k = tf.reshape(tf.transpose(_BLUR) @ _BLUR, [5, 5, 1, 1])
    blurred = tf.nn.conv2d(tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT"), k, 1, "VALID")
    amt = tf.random.uniform([n, 1, 1, 1], amount[0], amount[1])
    return x + amt * (x - blurred)


def _jpeg(x: Any, prob: float, quality: tuple[int, int]) -> Any:
    """JPEG-compress a random subset of the batch at a random quality each."""
    n = tf.shape(x)[0]
    u8 = tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)
    q = tf.random.uniform([n], quality[0], quality[1] + 1, dtype=tf.int32)
    coded = tf.map_fn(lambda a: tf.image.adjust_jpeg_quality(a[0], a[1]), (u8, q),
                      fn_output_signature=tf.TensorSpec([CROP_SIZE, CROP_SIZE, 1], tf.uint8))
    pick = tf.random.uniform([n, 1, 1, 1]) < prob
    return tf.where(pick, tf.cast(coded, tf.float32), x)


def _occlude(x: Any, prob: float, area: tuple[float, float]) -> Any:
    """Random erasing, half of it with a flat grey patch (a hand, a microphone) instead of noise."""
    n = tf.shape(x)[0]
    noisy = _erase(x, 1.0, area)
    flat_value = tf.random.uniform([n, 1, 1, 1], 0.0, 255.0)
    flat = tf.where(tf.equal(noisy, x), x, flat_value)  # the erased rectangle, filled flat
    use_flat = tf.random.uniform([n, 1, 1, 1]) < 0.5
    out = tf.where(use_flat, flat, noisy)
    return tf.where(tf.random.uniform([n, 1, 1, 1]) < prob, out, x)


def augment_path(x: Any, cfg: PathAugmentConfig = PathAugmentConfig()) -> Any:
    """(N, 48, 48, 1) float32 0..255 → (N, 44, 44, 1): the "path" recipe (module docstring)."""
    n = tf.shape(x)[0]
    x = _affine_crop(x, cfg)
    x = tf.image.random_flip_left_right(x)
    if cfg.low_res_prob:
        x = _low_res(x, cfg.low_res_prob, cfg.low_res_px)
    x = tf.clip_by_value(_sharpness(x, cfg.sharpness), 0.0, 255.0)
    gamma = tf.exp(tf.random.uniform([n, 1, 1, 1], -cfg.gamma, cfg.gamma))
    x = 255.0 * tf.pow(x / 255.0 + 1e-6, gamma)
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    contrast = tf.random.uniform([n, 1, 1, 1], cfg.contrast[0], cfg.contrast[1])
    bright = tf.random.uniform([n, 1, 1, 1], -cfg.brightness, cfg.brightness) * 255.0
    x = tf.clip_by_value((x - mean) * contrast + mean + bright, 0.0, 255.0)
    if cfg.jpeg_prob:
        x = _jpeg(x, cfg.jpeg_prob, cfg.jpeg_quality)
    if cfg.erase_prob:
        x = _occlude(x, cfg.erase_prob, cfg.erase_area)
    return x


RECIPES = {"fer": augment_batch, "path": augment_path}
