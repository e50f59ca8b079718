"""Per-stage cost of analysing one sample, measured on real face frames (the cost model's analysis half).

Every stage of `analysis.pipeline.Analyzer` is timed on its own, on 640x480 frames made from
the shared face clips the way a student's webcam tile looks (letterboxed), so that a choice
such as "BlazeFace for one large face" or "face mesh every third sample" can be priced
before it is made. On a machine shared with other work single timings are noisy, so every
figure is the median of many calls (`repeat` per frame), in milliseconds of wall time in
this one thread; TFLite and YuNet may use a second core inside a call.

Stages (ms per call; "per face" ones are per detected face):

- ``to_bgr``: the PyAV frame (yuv420p) to the BGR array the analyser reads (the sampler does it);
- ``camera_off``: the black/flat-frame check every sample passes first;
- ``detect_<backend>@<side>``: one detector call on the frame scaled to that longer side;
- ``find_faces_<backend>``: the production search (a second, padded search when the face
  touches the frame's edge);
- ``track``: the per-student face tracker update;
- ``mesh``, ``pose``, ``quality``, ``crop``: per face;
- ``emotion_batch<N>``: one classifier call on N faces, divided by N (per face).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from model.datasets import videos_dir

CANVAS = (640, 480)


def sample_frames(videos: Sequence[Path], per_clip: int, size: tuple[int, int] = CANVAS) -> list[np.ndarray]:
    """`per_clip` frames spread over each clip, letterboxed onto a `size` canvas (BGR)."""
    import cv2

    out: list[np.ndarray] = []
    for path in videos:
        cap = cv2.VideoCapture(str(path))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 100
        step = max(1, total // max(1, per_clip))
        index = 0
        taken = 0
        while taken < per_clip:
            ok, frame = cap.read()
            if not ok:
                break
            if index % step == 0:
                out.append(letterbox(frame, size))
                taken += 1
            index += 1
        cap.release()
    return out


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    w, h = size
    scale = min(w / frame.shape[1], h / frame.shape[0])
    nw, nh = round(frame.shape[1] * scale), round(frame.shape[0] * scale)
    canvas = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas


def scaled(frame: np.ndarray, side: int) -> np.ndarray:
    """The frame shrunk so that its longer side is `side` (unchanged when already smaller)."""
    import cv2

    h, w = frame.shape[:2]
    k = side / max(h, w)
    if k >= 1.0:
        return frame
    return cv2.resize(frame, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)


def median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    """Median wall milliseconds of `repeat` calls (after one untimed warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), times


class _Collector:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}
        self.notes: dict[str, str] = {}

    def add(self, name: str, fn: Callable[[], Any], repeat: int, per: int = 1) -> None:
        _, times = median_ms(fn, repeat)
        self.ms.setdefault(name, []).extend(t / per for t in times)

    def table(self) -> dict[str, dict[str, float]]:
        return {k: {"median_ms": round(statistics.median(v), 3),
                    "p90_ms": round(float(np.percentile(v, 90)), 3), "n": len(v)}
                for k, v in self.ms.items()}


def measure_stages(frames: Sequence[np.ndarray], repeat: int = 5, batches: Sequence[int] = (1, 10, 50),
                   emotions: bool = True, detect_sides: Sequence[int] = (640, 320, 256)) -> dict[str, Any]:
    """Median ms per stage over `frames` (see the module docstring for the stage names)."""
    import av

    from analysis.detect import make_detector
    from analysis.detectors.face_mesh import FaceMesh
    from analysis.faces import face_patches, find_faces
    from analysis.landmarks import head_pose
    from analysis.quality import face_quality, is_camera_off
    from analysis.track import FaceTracker

    c = _Collector()
    detectors = {"yunet": make_detector("yunet"), "blazeface": make_detector("blazeface")}
    mesh = FaceMesh()
    tracker = FaceTracker()
    faces_per_frame: list[int] = []
    face_sizes: list[int] = []
    patches: list[np.ndarray] = []
    for frame in frames:
        yuv = av.VideoFrame.from_ndarray(frame, format="bgr24").reformat(format="yuv420p")
        c.add("to_bgr", partial(yuv.to_ndarray, format="bgr24"), repeat)
        c.add("camera_off", partial(is_camera_off, frame), repeat)
        for name, det in detectors.items():
            for side in detect_sides:
                small = scaled(frame, side)
                c.add(f"detect_{name}@{side}", partial(det.detect, small), repeat)
            c.add(f"find_faces_{name}", partial(find_faces, det, frame), repeat)
        found = find_faces(detectors["yunet"], frame)
        faces_per_frame.append(len(found))
        dets = [f.detection for f in found]
        c.add("track", partial(tracker.update, dets), repeat)
        for f in found:
            d = f.detection
            face_sizes.append(d.size)
            c.add("mesh", partial(mesh.landmarks, frame, d), repeat)
            c.add("pose", partial(head_pose, d, frame.shape[1], frame.shape[0]), repeat)
            c.add("quality", partial(face_quality, frame, d), repeat)
        if found:
            c.add("crop", partial(face_patches, frame, found, "yunet"), repeat,
                  per=len(found))
            patches.extend(face_patches(frame, found, "yunet"))
    if emotions and patches:
        from analysis.pipeline import shared_classifier

        clf = shared_classifier(None)
        for n in batches:
            batch = np.stack([patches[i % len(patches)] for i in range(n)])
            c.add(f"emotion_batch{n}", partial(clf.predict, batch), max(repeat, 5), per=n)
    return {"frames": len(frames), "frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}" if frames else None,
            "faces_per_frame_median": statistics.median(faces_per_frame) if faces_per_frame else 0,
            "face_size_median_px": statistics.median(face_sizes) if face_sizes else None,
            "stages": c.table()}


def default_videos() -> list[Path]:
    return sorted(videos_dir().glob("*.mp4"))
