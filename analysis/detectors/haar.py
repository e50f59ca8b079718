"""OpenCV's Viola-Jones Haar cascade: the dependency-free fallback detector.

It needs nothing but OpenCV 4.x (whose wheel ships the cascade files), and it is the
classic baseline to measure the neural detectors against. It gives no keypoints, so head
pose needs the face mesh when this backend is used.

Speed: the cascade slides a 24x24 window over an image pyramid, so its cost grows with the
frame's pixel count. Faces smaller than `min_face` pixels are too small to read anyway
(see `analysis.quality`), so the frame is first shrunk until such a face just fills the
window. Score: OpenCV reports the last cascade stage's summed weight (about 4–12 on real
faces); a logistic curve maps it to 0..1 so it can share thresholds with other backends.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from analysis.detect import Detection, check_frame, clip_box

CASCADE = "haarcascade_frontalface_default.xml"
WINDOW = 24  # the cascade's training window in pixels


def weight_to_score(level_weight: float, center: float = 3.0, spread: float = 1.5) -> float:
    """Logistic map of the cascade's final stage weight to a 0..1 confidence."""
    return 1.0 / (1.0 + math.exp(-(level_weight - center) / spread))


class HaarDetector:
    """`FaceDetector` using the frontal-face Haar cascade."""

    name = "haar"

    def __init__(
        self,
        *,
        min_face: int = 40,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        num_threads: int = 2,
    ) -> None:
        path = cv2.data.haarcascades + CASCADE  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV could not load {path}; opencv 5.x ships no Haar cascades")
        self.min_face = min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        cv2.setNumThreads(num_threads)  # process-wide: OpenCV has one thread pool

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        check_frame(frame_bgr)
        h, w = frame_bgr.shape[:2]
        scale = min(1.0, WINDOW / self.min_face)
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        boxes, _levels, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(WINDOW, WINDOW),
            outputRejectLevels=True,
        )
        detections = []
        for (bx, by, bw, bh), weight in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(weights), strict=True):
            box = clip_box(bx / scale, by / scale, (bx + bw) / scale, (by + bh) / scale, w, h)
            if box is not None:
                detections.append(Detection(box=box, score=weight_to_score(float(weight))))
        return detections
