"""libfacedetection's YuNet CNN through the `yuface` package (weights compiled into the library).

YuNet gives a box, a confidence (0..100) and five keypoints (eyes, nose tip, mouth corners)
per face. Two run-time details matter on a shared 2-core server:

- It parallelises with OpenMP. OpenMP's default busy-waiting turns into a tenfold slowdown
  when another process (a training job, the media receiver) holds the cores, so we ask for
  passive waiting and two threads — before the library loads, because OpenMP reads its
  environment only once. Values the operator already set are kept.
- Its cost grows with the pixel count. Faces smaller than `min_face` pixels are too small to
  read anyway, so the frame is shrunk until such a face measures about `SMALLEST_FACE` pixels,
  the size YuNet still finds reliably. A 640x480 frame is searched at 320x240 by default.
- yuface's own binding (`yuface.c_detect`, 2023.5.1) leaks the library's result buffer on
  every call: about 36 KB per detection at 320x240, i.e. ~38 KB per analysed sample and
  ~34 MB per minute in a class of 15 (issue 18, item 13). We call the library it bundles,
  `facedetect_cnn(result_buffer, bgr, width, height, step)`, directly through ctypes with one
  result buffer per detector (the detector is not thread-safe anyway: one per inference
  worker). Same rows, no leak; when the symbol is not there the binding is used with a warning.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from analysis.detect import (
    LEFT_EYE,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE,
    RIGHT_EYE,
    Detection,
    check_frame,
    clip_box,
)

#: Face side in pixels (in the shrunk image) that YuNet still detects reliably.
SMALLEST_FACE = 20
#: The library's keypoint order (the subject's right eye first).
KEYPOINT_NAMES = (RIGHT_EYE, LEFT_EYE, NOSE, MOUTH_RIGHT, MOUTH_LEFT)
#: libfacedetection: the result buffer must be 0x20000 bytes; results are an int count, then
#: 16 shorts per face (score, x, y, w, h, five keypoints, …).
RESULT_BUFFER_BYTES = 0x20000
ROW_SHORTS = 16
#: `facedetect_cnn(unsigned char*, unsigned char*, int, int, int)` as the bundled C++ library exports it.
FACEDETECT_SYMBOLS = ("_Z14facedetect_cnnPhS_iii", "facedetect_cnn")

log = logging.getLogger(__name__)


def _load_yuface(num_threads: int) -> Any:
    os.environ.setdefault("OMP_NUM_THREADS", str(num_threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    try:
        import yuface
    except ImportError as exc:
        raise RuntimeError(
            "the yunet detector needs the yuface package (wheels for CPython 3.11 and older); "
            "install it or configure the detector as 'blazeface' or 'auto'"
        ) from exc
    return yuface


class _Facedetect:
    """libfacedetection's `facedetect_cnn` with one reusable result buffer (see the module docstring)."""

    def __init__(self, yuface: Any) -> None:
        lib = ctypes.CDLL(str(Path(yuface.__file__).with_name("libfacedetection.so")))
        fn = next((getattr(lib, n) for n in FACEDETECT_SYMBOLS if hasattr(lib, n)), None)
        if fn is None:
            raise OSError("facedetect_cnn not found in the bundled libfacedetection")
        fn.restype = ctypes.POINTER(ctypes.c_int)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._fn = fn
        self._lib = lib
        self._buffer = ctypes.create_string_buffer(RESULT_BUFFER_BYTES)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(N, 16) int16 rows, like `yuface.c_detect`."""
        h, w = image.shape[:2]
        result = self._fn(self._buffer, image.ctypes.data, w, h, int(image.strides[0]))
        n = int(result[0]) if result else 0
        if n <= 0:
            return np.zeros((0, ROW_SHORTS), dtype=np.int16)
        start = ctypes.addressof(result.contents) + ctypes.sizeof(ctypes.c_int)
        rows = np.ctypeslib.as_array(ctypes.cast(start, ctypes.POINTER(ctypes.c_short)), shape=(n * ROW_SHORTS,))
        return rows.reshape(n, ROW_SHORTS).copy()


def _detect_fn(yuface: Any) -> Any:
    try:
        return _Facedetect(yuface)
    except (OSError, AttributeError) as exc:
        log.warning("calling libfacedetection directly failed (%s): using yuface's binding, which leaks "
                    "about 36 KB per detection", exc)
        return yuface.c_detect


class YuNetDetector:
    """`FaceDetector` using libfacedetection's YuNet.

    `min_score` 0.85 lies between the lowest real-face score (0.91) and the highest non-face
    score (0.77) measured in docs/detectors.md.
    """

    name = "yunet"

    def __init__(self, *, min_score: float = 0.85, min_face: int = 40, num_threads: int = 2) -> None:
        self._yuface = _load_yuface(num_threads)
        self._detect = _detect_fn(self._yuface)
        self.min_score = min_score
        self.min_face = min_face

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        check_frame(frame_bgr)
        h, w = frame_bgr.shape[:2]
        scale = min(1.0, SMALLEST_FACE / self.min_face)
        image = frame_bgr
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        rows = np.asarray(self._detect(np.ascontiguousarray(image)), dtype=np.float32)
        detections = []
        for row in rows.reshape(-1, rows.shape[-1] if rows.size else 16):
            score = float(row[0]) / 100.0
            if score < self.min_score:
                continue
            x, y, bw, bh = (float(v) / scale for v in row[1:5])
            box = clip_box(x, y, x + bw, y + bh, w, h)
            if box is None:
                continue
            points = row[5:15].reshape(5, 2) / scale
            keypoints = tuple(
                (name, (float(p[0]), float(p[1]))) for name, p in zip(KEYPOINT_NAMES, points, strict=True)
            )
            detections.append(Detection(box=box, score=min(1.0, score), keypoints=keypoints))
        return detections
