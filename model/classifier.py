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

from model.bundle import ModelMeta, load_networks
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

        @tf.function(input_signature=[tf.TensorSpec([None, crop, crop, 1], tf.float32)])
        def _run(x: Any) -> Any:
            views = [x, tf.reverse(x, axis=[2])] if flip else [x]
            outs = [net(v, training=False) for net in nets for v in views]
            return tf.add_n(outs) / float(len(outs))

        self._run = _run

    @classmethod
    def load(cls, model_dir: str | Path | None = None, policy: str | None = None) -> EmotionClassifier:
        nets, meta = load_networks(model_dir, policy=policy or best_policy())
        return cls(nets, meta)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.labels

    def predict(self, patches: np.ndarray) -> np.ndarray:
        """(N, 48, 48) uint8 patches → (N, 7) float32 probabilities (rows sum to 1)."""
        arr = np.asarray(patches)
        if arr.shape[0] == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = self._run(center_crop(arr)).numpy().astype(np.float32)
        return out / out.sum(axis=1, keepdims=True)
