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
"""

from __future__ import annotations

import os
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


class YuNetDetector:
    """`FaceDetector` using libfacedetection's YuNet.

    `min_score` 0.85 lies between the lowest real-face score (0.91) and the highest non-face
    score (0.77) measured in docs/detectors.md.
    """

    name = "yunet"

    def __init__(self, *, min_score: float = 0.85, min_face: int = 40, num_threads: int = 2) -> None:
        self._yuface = _load_yuface(num_threads)
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
        rows = np.asarray(self._yuface.c_detect(np.ascontiguousarray(image)), dtype=np.float32)
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
