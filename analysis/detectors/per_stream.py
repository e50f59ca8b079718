"""Choosing the face detector per video stream, from what the stream's last samples showed.

Measured in docs/bot.md ("Cost model"): YuNet costs several times what BlazeFace does per
frame, and most of a live class is one student close to their own webcam — one large face,
which BlazeFace's short-range model finds as well as YuNet. Galleries, classroom cameras and
small faces need YuNet. So each stream gets a `StreamDetector` that decides before every
frame, from the stream's recent results only (no look at the frame itself):

- **blazeface** once the last `settle` samples each held exactly one face whose shorter side
  is at least `large_share` of the frame's shorter side. When BlazeFace finds nothing (the
  student left, turned away, or the picture changed) the same frame goes to YuNet at once,
  so a miss of the cheap detector is never a missing face.
- **yunet on a downscaled frame** while every recent face is at least `2 * min_face` pixels:
  the search runs on the frame halved (a quarter of the pixels), which still finds faces of
  `2 * min_face` — the smallest the stream has shown. Nothing found there → YuNet on the
  full frame, on the same sample.
- **yunet** otherwise (galleries of small faces, a classroom camera, a stream just started) — and every
  `verify_every`-th sample in any mode, so a second, smaller face that BlazeFace would not
  see (someone sitting down behind the student) is found within that many samples.

The detector used for a frame is `last_backend` after `detect`: the crop framing for the
emotion model depends on it (`model.framing`). This is a live-only shortcut: `classpulse
analyze` and `evaluate` use one fixed detector for every frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from analysis.detect import Detection, FaceDetector, clip_box
from analysis.faces import PAD, FoundFace, as_found, find_faces, touches_edge


@dataclass(frozen=True)
class ChoiceRule:
    """When a stream counts as "one large face" and how often the full search runs anyway."""

    settle: int = 3  # samples in a row with one large face before switching to BlazeFace
    large_share: float = 0.2  # face side / frame's shorter side (96 px on a 640x480 frame)
    verify_every: int = 10  # a full YuNet search at least this often (catches new small faces)
    min_face: int = 40  # YuNet's smallest face in frame pixels (config `analysis.min_face_px`)


def shrink_detections(found: list[Detection], k: float, w: int, h: int) -> list[Detection]:
    """Detections made on a frame scaled by `k`, mapped back to the full frame."""
    out = []
    for d in found:
        x, y, bw, bh = (v / k for v in d.box)
        box = clip_box(x, y, x + bw, y + bh, w, h)
        if box is None:
            continue
        kps = tuple((name, (px / k, py / k)) for name, (px, py) in d.keypoints)
        out.append(Detection(box=box, score=d.score, keypoints=kps))
    return out


class StreamDetector:
    """A `FaceDetector` for ONE stream: picks BlazeFace, YuNet on half the frame, or YuNet.

    `fast` and `full` are the two backends (BlazeFace and YuNet in production; any
    `FaceDetector` in tests). They are shared between the streams of one analyser thread;
    only the small history here is per stream.
    """

    def __init__(self, fast: FaceDetector, full: FaceDetector, rule: ChoiceRule = ChoiceRule()) -> None:
        self.fast = fast
        self.full = full
        self.rule = rule
        self.name = full.name  # what `describe` reports; per-frame choice in `last_backend`
        #: (faces, smallest face side in px, frame's shorter side) of the last `settle` samples
        self._recent: deque[tuple[int, int, int]] = deque(maxlen=max(1, rule.settle))
        self._since_full = 0
        self.last_backend = full.name
        self.last_mode = "full"
        self.counts: dict[str, int] = {"fast": 0, "half": 0, "full": 0, "fallback": 0}

    def mode(self) -> str:
        """What the next frame gets: "fast" (BlazeFace), "half" (YuNet on half the frame) or "full"."""
        r = self.rule
        if self._since_full + 1 >= r.verify_every or len(self._recent) < max(1, r.settle):
            return "full"
        if any(n == 0 for n, _, _ in self._recent):
            return "full"
        if all(n == 1 and px >= r.large_share * short for n, px, short in self._recent):
            return "fast"
        if all(px >= 2 * r.min_face for _, px, _ in self._recent):
            return "half"
        return "full"

    def find(self, frame_bgr: np.ndarray, pad: float = PAD) -> tuple[list[FoundFace], str]:
        """The frame's faces (largest first) and the backend that found them.

        A cheap search ("fast", "half") is kept only when it found a face that does not touch
        the frame's edge; otherwise the frame gets the production search with the full
        detector (`analysis.faces.find_faces`, padded when needed) on the same sample.
        """
        h, w = frame_bgr.shape[:2]
        mode = self.mode()
        self.counts[mode] += 1
        self.last_mode = mode
        if mode != "full":
            if mode == "fast":
                cheap = self.fast.detect(frame_bgr)
            else:
                small = cv2.resize(frame_bgr, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
                cheap = shrink_detections(self.full.detect(small), 0.5, w, h)
            cheap.sort(key=lambda d: d.box[2] * d.box[3], reverse=True)
            if cheap and not touches_edge(cheap[0].box, w, h):
                self._since_full += 1
                self._note(cheap, min(h, w))
                backend = self.fast.name if mode == "fast" else self.full.name
                self.last_backend = backend
                return [as_found(d) for d in cheap], backend
            self.counts["fallback"] += 1
        found = find_faces(self.full, frame_bgr, pad=pad)
        self._since_full = 0
        self._note([f.detection for f in found], min(h, w))
        self.last_backend = self.full.name
        return found, self.full.name

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """`FaceDetector.detect` for benchmarks: `find` without the padded second search."""
        return [f.detection for f in self.find(frame_bgr, pad=0.0)[0]]

    def _note(self, found: list[Detection], short_side: int) -> None:
        self._recent.append((len(found), min((d.size for d in found), default=0), short_side))
