"""Emotion inference: the one path the bot, `classpulse analyze` and evaluation all use.

`EmotionClassifier.predict` takes 48x48 grayscale face patches (see `model.preprocess`)
and returns class probabilities, applying the test-time augmentation the model card
declares. One call handles any batch size; the bot sends all faces of one sampling tick
in one call, because per-call overhead dominates for a small CNN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.bundle import ModelMeta, load_networks, model_version
from model.preprocess import center_crop


def best_policy() -> str:
    """bf16 where the CPU computes it natively (AVX-512 BF16 / AMX), float32 elsewhere."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "mixed_bfloat16" if (" avx512_bf16" in flags or " amx_bf16" in flags) else "float32"


class EmotionClassifier:
    """Loaded network(s) plus one compiled inference function.

    An ensemble folder averages its members' probabilities inside the same compiled call,
    so the bot still makes one classifier call per tick.
    """

    def __init__(self, model: Any, meta: ModelMeta) -> None:
        import tensorflow as tf

        nets = list(model) if isinstance(model, list | tuple) else [model]
        self.models = nets
        self.meta = meta
        crop = meta.crop_size
        flip = meta.tta == "flip"
        inv_t = 1.0 / float(meta.calibration.get("temperature", 1.0))

        @tf.function(input_signature=[tf.TensorSpec([None, crop, crop, 1], tf.float32)])
        def _run(x: Any) -> Any:
            views = [x, tf.reverse(x, axis=[2])] if flip else [x]
            outs = [tf.cast(net(v, training=False), tf.float32) for net in nets for v in views]
            mean = tf.add_n(outs) / float(len(outs))
            if inv_t == 1.0:
                return mean
            # Temperature scaling (`training.calibrate`): softmax(log p / T) = p^(1/T), renormalised.
            scaled = tf.exp(tf.math.log(tf.maximum(mean, 1e-12)) * inv_t)
            return scaled / tf.reduce_sum(scaled, axis=1, keepdims=True)

        self._run = _run

    @classmethod
    def load(cls, model_dir: str | Path | None = None, policy: str | None = None) -> EmotionClassifier:
        nets, meta = load_networks(model_dir, policy=policy or best_policy())
        clf = cls(nets, meta)
        clf.version = model_version(model_dir)
        return clf

    #: `model.bundle.model_version` of the folder it was loaded from ("" when built in memory).
    version: str = ""

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.labels

    @property
    def uncertain_below(self) -> float | None:
        """Calibrated confidence under which a reading is flagged uncertain (None: uncalibrated)."""
        value = self.meta.calibration.get("uncertain_below")
        return None if value is None else float(value)

    def predict(self, patches: np.ndarray) -> np.ndarray:
        """(N, 48, 48) uint8 patches → (N, 7) float32 probabilities (rows sum to 1)."""
        arr = np.asarray(patches)
        if arr.shape[0] == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = self._run(center_crop(arr)).numpy().astype(np.float32)
        return out / out.sum(axis=1, keepdims=True)
