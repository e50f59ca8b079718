"""Keep native start-up chatter of TensorFlow / TFLite off the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for a moment: TensorFlow's C++ runtime prints start-up
    notices (oneDNN, CUDA probing) before its logging is configurable, and a teacher running
    `classpulse analyze` should not see them. Python exceptions still propagate normally."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def preload_tensorflow() -> None:
    """Import TensorFlow (and the TFLite runtime) once, quietly, before the work starts."""
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing prints CUDA notices on CPU-only hosts
