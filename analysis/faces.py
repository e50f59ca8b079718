"""Find faces for reading: detection with padding where the face fills the frame, and the crop.

Detectors miss, or cut off, a face that fills the whole frame (a student close to the
camera; many portrait photos): their training faces had context around them. When a frame
gives no face, or its largest face touches the frame's edge, it is searched again inside a
mid-grey border (`PAD` of its longer side on each side) and the boxes are mapped back. The
box kept for cropping is the unclipped one, so the FER-style square keeps its true size and
centre; the parts beyond the frame repeat the edge pixels (`model.preprocess.face_crop`).

`find_faces` and `face_patches` are the production path for the bot, `classpulse analyze`
and `classpulse evaluate --frames` (through `analysis.pipeline.Analyzer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.detect import Detection, FaceDetector, clip_box

#: Border added on each side, as a fraction of the frame's longer side, for the second search.
PAD = 0.3
PAD_VALUE = 128
#: The bordered frame is enlarged to at least this longer side for the second search: a small
#: photo that is all face (60x50 pixels, common in web collections) would otherwise shrink
#: below what the detector can see once it scales the frame for `min_face`.
MIN_SEARCH_SIDE = 400


@dataclass(frozen=True)
class FoundFace:
    detection: Detection  # box clipped to the frame, as every consumer expects
    crop_box: tuple[float, float, float, float]  # (x, y, w, h), may reach beyond the frame


def as_found(d: Detection) -> FoundFace:
    x, y, w, h = d.box
    return FoundFace(d, (float(x), float(y), float(w), float(h)))


def _area(d: Detection) -> int:
    return d.box[2] * d.box[3]


def touches_edge(box: tuple[int, int, int, int], w: int, h: int) -> bool:
    x, y, bw, bh = box
    return x <= 0 or y <= 0 or x + bw >= w or y + bh >= h


def find_faces(detector: FaceDetector, frame_bgr: np.ndarray, pad: float = PAD) -> list[FoundFace]:
    """Faces in the frame, largest first; searched again with a border where needed."""
    import cv2

    h, w = frame_bgr.shape[:2]
    found = sorted(detector.detect(frame_bgr), key=_area, reverse=True)
    if pad <= 0 or (found and not touches_edge(found[0].box, w, h)):
        return [as_found(d) for d in found]
    p = round(pad * max(h, w))
    big = cv2.copyMakeBorder(frame_bgr, p, p, p, p, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    k = max(1.0, MIN_SEARCH_SIDE / max(big.shape[:2]))
    if k > 1.0:
        big = cv2.resize(big, (round(big.shape[1] * k), round(big.shape[0] * k)), interpolation=cv2.INTER_CUBIC)
    again: list[FoundFace] = []
    for d in detector.detect(big):
        x, y, bw, bh = (v / k for v in d.box)
        box = clip_box(x - p, y - p, x - p + bw, y - p + bh, w, h)
        if box is None:
            continue
        kps = tuple((name, (px / k - p, py / k - p)) for name, (px, py) in d.keypoints)
        again.append(FoundFace(Detection(box=box, score=d.score, keypoints=kps), (x - p, y - p, bw, bh)))
    if not again:
        return [as_found(d) for d in found]
    return sorted(again, key=lambda f: _area(f.detection), reverse=True)


def face_patches(frame_bgr: np.ndarray, faces: Sequence[FoundFace], detector_name: str) -> list[np.ndarray]:
    """48x48 grey FER-style patches of `faces`, framed for the detector that found them."""
    from model.framing import framing_for
    from model.preprocess import face_crop

    framing = framing_for(detector_name)
    return [face_crop(frame_bgr, f.crop_box, f.detection.points, framing) for f in faces]
