"""Benchmark of the face detector backends on real clips, faceless frames and gallery views.

    .venv/bin/python -m analysis.bench_detect [--json] [--step 5] [--videos DIR] [--backends yunet,per_stream]

Positives: every `step`-th frame of each clip in ../shared/datasets/videos (one person per
clip), letterboxed onto a 640x480 canvas as a video call would show it. Negatives: the same
frames with the head painted over by the surrounding background (the region every backend
agreed was a face, grown to cover hair, ears and chin), plus synthetic empty rooms. A
detector should find exactly one face on each positive and none on each negative.

Gallery views: 2x2 and 3x3 grids of 320x240 tiles, one clip per tile (played back and forth), go through
detector + `FaceTracker`; every tile's person should keep one id for the whole run.

Timings are per `detect()` call on the 640x480 canvases; other work on the machine (a
training job) makes single timings noisy, so the table quotes medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from analysis.detect import DEFAULT_DETECTOR, DETECTOR_NAMES, Detection, FaceDetector, make_detector, resolve_name
from analysis.landmarks import head_pose, is_attentive
from analysis.track import FaceTracker
from model.datasets import videos_dir

VIDEOS = videos_dir()
CANVAS = (640, 480)
TILE = (320, 240)

Summary = dict[str, Any]
GalleryResults = dict[str, dict[str, dict[str, object]]]


def sample_frames(path: Path, step: int) -> Iterator[np.ndarray]:
    """Every `step`-th decoded frame of a video file."""
    capture = cv2.VideoCapture(str(path))
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            if index % step == 0:
                yield frame
            index += 1
    finally:
        capture.release()


def letterbox_to(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale a frame to fit `size` (w, h) and pad with black, as a meeting tile does."""
    w, h = size
    scale = min(w / frame.shape[1], h / frame.shape[0])
    new_w, new_h = round(frame.shape[1] * scale), round(frame.shape[0] * scale)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - new_w) // 2, (h - new_h) // 2
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = resized
    return canvas


def head_region(boxes: list[tuple[int, int, int, int]], frame_shape: tuple[int, ...]) -> np.ndarray:
    """Mask of the whole head around the union of face boxes (hair, ears and chin included)."""
    h, w = frame_shape[:2]
    mask = np.zeros((h, w), np.uint8)
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    bw, bh = x1 - x0, y1 - y0
    center = (round((x0 + x1) / 2), round(y0 + bh * 0.4))
    axes = (round(bw * 0.75), round(bh * 0.85))  # half-axes: a head about 1.5 face boxes wide
    cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1)
    return mask


def paint_over(frame: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill the masked region with a smooth extension of its surroundings plus camera noise.

    Normalised convolution: blur the unmasked image and the unmasked weights alike and divide,
    which spreads the neighbouring background into the hole without leaving a flat patch.
    """
    small = cv2.resize(frame, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(np.float32)
    keep = (cv2.resize(mask, (small.shape[1], small.shape[0])) < 128).astype(np.float32)
    sigma = max(small.shape[:2]) / 8
    num = cv2.GaussianBlur(small * keep[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(keep, (0, 0), sigma)[..., None]
    spread = (num / np.maximum(den, 1e-3)).astype(np.float32)
    fill = np.asarray(cv2.resize(spread, (frame.shape[1], frame.shape[0])), np.float32)
    fill = fill + rng.normal(0.0, 3.0, fill.shape).astype(np.float32)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 5)[..., None]
    out = frame.astype(np.float32) * (1 - alpha) + fill * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def _color(rng: np.random.Generator, low: int = 30, high: int = 230) -> tuple[int, int, int]:
    b, g, r = (int(v) for v in rng.integers(low, high, 3))
    return b, g, r


def render_empty_room(seed: int, size: tuple[int, int] = CANVAS) -> np.ndarray:
    """A synthetic webcam view of a room with nobody in it: walls, window, door, shelves,
    pictures, a clock, a lamp, a plant and furniture, with uneven light, noise and JPEG loss."""
    rng = np.random.default_rng(seed)
    w, h = size
    wall = np.array(_color(rng, 60, 230), np.float32)
    shade = np.linspace(0.75, 1.1, h, dtype=np.float32)[:, None, None]
    img = np.clip(np.broadcast_to(wall, (h, w, 3)) * shade, 0, 255).astype(np.uint8).copy()
    floor_y = int(h * rng.uniform(0.65, 0.85))
    img[floor_y:] = _color(rng, 40, 160)
    for _ in range(int(rng.integers(3, 7))):
        kind = int(rng.integers(0, 6))
        x, y = int(rng.integers(0, w - 80)), int(rng.integers(0, floor_y - 60))
        bw, bh = int(rng.integers(40, 220)), int(rng.integers(40, 220))
        if kind == 0:  # window with sky and bars
            sky = np.linspace(255, 170, bh, dtype=np.float32)[:, None]
            region = img[y : y + bh, x : x + bw]
            glass = np.stack([np.full_like(sky, 250), sky, sky * 0.8], -1)
            region[:] = glass[: region.shape[0]].astype(np.uint8)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), _color(rng), 6)
            cv2.line(img, (x + bw // 2, y), (x + bw // 2, y + bh), _color(rng), 4)
        elif kind == 1:  # bookshelf
            cv2.rectangle(img, (x, y), (x + bw, y + bh), _color(rng, 40, 120), -1)
            bx = x + 4
            while bx < x + bw - 6:
                bwid = int(rng.integers(4, 14))
                top = y + int(rng.integers(4, max(5, bh // 3)))
                cv2.rectangle(img, (bx, top), (bx + bwid, y + bh - 4), _color(rng), -1)
                bx += bwid + 1
        elif kind == 2:  # picture with abstract blobs
            cv2.rectangle(img, (x, y), (x + bw, y + bh), _color(rng), -1)
            for _ in range(4):
                cx, cy = x + int(rng.integers(0, bw)), y + int(rng.integers(0, bh))
                cv2.circle(img, (cx, cy), int(rng.integers(4, 30)), _color(rng), -1)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), (20, 20, 20), 5)
        elif kind == 3:  # wall clock: a round face with two hands and ticks
            r = max(12, min(bw, bh) // 3)
            cv2.circle(img, (x + r, y + r), r, (235, 235, 235), -1)
            cv2.circle(img, (x + r, y + r), r, (30, 30, 30), 3)
            for angle in rng.uniform(0, 2 * np.pi, 2):
                tip = (int(x + r + 0.7 * r * np.cos(angle)), int(y + r + 0.7 * r * np.sin(angle)))
                cv2.line(img, (x + r, y + r), tip, (20, 20, 20), 3)
        elif kind == 4:  # lamp
            cv2.line(img, (x + bw // 2, y + bh // 3), (x + bw // 2, floor_y), (40, 40, 40), 4)
            pts = np.array([[x, y + bh // 3], [x + bw, y + bh // 3], [x + 3 * bw // 4, y], [x + bw // 4, y]])
            cv2.fillPoly(img, [pts.astype(np.int32)], _color(rng, 150, 250))
        else:  # plant: pot and leaves
            cv2.rectangle(img, (x, y + bh // 2), (x + bw // 2, y + bh), _color(rng, 60, 160), -1)
            for _ in range(10):
                cx, cy = x + int(rng.integers(0, bw)), y + int(rng.integers(0, bh // 2 + 1))
                angle = float(rng.uniform(0, 180))
                cv2.ellipse(img, (cx, cy), (18, 6), angle, 0, 360, (40, int(rng.integers(90, 180)), 40), -1)
    # Desk and chair in front.
    cv2.rectangle(img, (0, floor_y - 20), (w, floor_y + 10), _color(rng, 50, 150), -1)
    cx = int(rng.integers(100, w - 100))
    cv2.rectangle(img, (cx - 60, floor_y - 160), (cx + 60, floor_y - 20), _color(rng, 20, 90), -1)
    # Light falling off from one side, sensor noise, slight defocus, compression.
    ramp = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.9, 1.2), w, dtype=np.float32)[None, :, None]
    out = img.astype(np.float32) * ramp + rng.normal(0, 4.0, img.shape).astype(np.float32)
    out_u8 = cv2.GaussianBlur(np.clip(out, 0, 255).astype(np.uint8), (0, 0), 0.8)
    _ok, encoded = cv2.imencode(".jpg", out_u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 90))])
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), np.uint8)


@dataclass
class DetectorStats:
    positives: int = 0
    exactly_one: int = 0
    at_least_one: int = 0
    extra_on_positives: int = 0
    negatives: int = 0
    faces_on_negatives: int = 0
    negative_frames_with_faces: int = 0
    ms: list[float] = field(default_factory=list)
    #: Head pose on positive frames with exactly one face: clip -> pitches, and attentive count.
    pitch_by_clip: dict[str, list[float]] = field(default_factory=dict)
    yaws: list[float] = field(default_factory=list)
    attentive: int = 0
    #: Face mesh on this backend's faces (only for the default backend).
    mesh_ms: list[float] = field(default_factory=list)
    eyes_open: int = 0

    def add_pose(self, clip: str, detection: Detection) -> None:
        pose = head_pose(detection, CANVAS[0], CANVAS[1])
        if pose is None:
            return
        self.pitch_by_clip.setdefault(clip, []).append(pose.pitch)
        self.yaws.append(pose.yaw)
        self.attentive += bool(is_attentive(pose))

    def summary(self) -> Summary:
        frames = self.positives + self.negatives
        posed = len(self.yaws)
        clip_pitch = [statistics.median(v) for v in self.pitch_by_clip.values()]
        return {
            "positive_frames": self.positives,
            "negative_frames": self.negatives,
            "recall_exactly_one": self.exactly_one / max(1, self.positives),
            "recall_at_least_one": self.at_least_one / max(1, self.positives),
            "fp_per_100_negatives": 100.0 * self.faces_on_negatives / max(1, self.negatives),
            "extra_per_100_positives": 100.0 * self.extra_on_positives / max(1, self.positives),
            "fp_per_100_frames": 100.0 * (self.faces_on_negatives + self.extra_on_positives) / max(1, frames),
            "median_ms": statistics.median(self.ms) if self.ms else float("nan"),
            "p90_ms": float(np.percentile(self.ms, 90)) if self.ms else float("nan"),
            "pose_share": posed / max(1, self.positives),
            "attentive_share": self.attentive / max(1, posed),
            "median_abs_yaw": statistics.median(abs(y) for y in self.yaws) if posed else float("nan"),
            "clip_median_pitch_range": [min(clip_pitch), max(clip_pitch)] if clip_pitch else [],
            "mesh_median_ms": statistics.median(self.mesh_ms) if self.mesh_ms else None,
            "eyes_open_share": self.eyes_open / len(self.mesh_ms) if self.mesh_ms else None,
        }


#: The live per-stream choice (`analysis.detectors.per_stream`): BlazeFace / YuNet on half the
#: frame / YuNet, decided from the stream's last samples. It keeps state, so positives,
#: negatives and each gallery run get their own instance (each is one stream).
PER_STREAM = "per_stream"


def build(name: str) -> FaceDetector:
    """A backend by name, or the live per-stream choice for `PER_STREAM`."""
    if name == PER_STREAM:
        from analysis.detectors.per_stream import StreamDetector

        return StreamDetector(make_detector("blazeface"), make_detector("yunet"))
    return make_detector(name)


def timed(detector: FaceDetector, frame: np.ndarray) -> tuple[list[Detection], float]:
    start = time.perf_counter()
    found = detector.detect(frame)
    return found, (time.perf_counter() - start) * 1000.0


def bench_single(
    detectors: dict[str, FaceDetector], videos: list[Path], step: int, rooms: int, mesh: bool,
    negative_detectors: dict[str, FaceDetector] | None = None,
) -> dict[str, DetectorStats]:
    """Positive frames, painted-over negatives and empty rooms through every backend.

    On positives with exactly one face, head pose is estimated too, and with `mesh` the face
    mesh runs on the default backend's face (eye state and its cost).
    """
    stats = {name: DetectorStats() for name in detectors}
    negatives = negative_detectors or detectors
    rng = np.random.default_rng(0)
    face_mesh = None
    default = resolve_name(DEFAULT_DETECTOR)
    if mesh and default in detectors:
        from analysis.detectors.face_mesh import FaceMesh

        face_mesh = FaceMesh()
    for video in videos:
        for raw in sample_frames(video, step):
            frame = letterbox_to(raw, CANVAS)
            boxes = []
            for name, detector in detectors.items():
                found, ms = timed(detector, frame)
                s = stats[name]
                s.positives += 1
                s.ms.append(ms)
                s.exactly_one += len(found) == 1
                s.at_least_one += len(found) >= 1
                s.extra_on_positives += max(0, len(found) - 1)
                boxes += [d.box for d in found]
                if len(found) == 1:
                    s.add_pose(video.name, found[0])
                    if face_mesh is not None and name == default:
                        _mesh_sample(face_mesh, frame, found[0], s)
            if boxes:
                negative = paint_over(frame, head_region(boxes, frame.shape), rng)
                _count_negative(negatives, stats, negative)
    for seed in range(rooms):
        _count_negative(negatives, stats, render_empty_room(seed))
    return stats


def _mesh_sample(face_mesh: Any, frame: np.ndarray, face: Detection, stats: DetectorStats) -> None:
    from analysis.landmarks import eyes_open

    start = time.perf_counter()
    landmarks = face_mesh.landmarks(frame, face)
    stats.mesh_ms.append((time.perf_counter() - start) * 1000.0)
    stats.eyes_open += eyes_open(landmarks)


def _count_negative(
    detectors: dict[str, FaceDetector], stats: dict[str, DetectorStats], frame: np.ndarray
) -> None:
    for name, detector in detectors.items():
        found = detector.detect(frame)
        stats[name].negatives += 1
        stats[name].faces_on_negatives += len(found)
        stats[name].negative_frames_with_faces += bool(found)


def ping_pong(t: int, length: int) -> int:
    """Frame index at step t when a clip plays forward, then backward, and so on.

    Unlike looping, this never teleports the person back to the clip's first frame, so any
    id switch the gallery run shows is the tracker's or the detector's doing.
    """
    if length <= 1:
        return 0
    period = 2 * length - 2
    i = t % period
    return i if i < length else period - i


def gallery_frames(videos: list[Path], step: int, cols: int) -> Iterator[np.ndarray]:
    """cols x cols grids of TILE-sized tiles, one clip per tile (mirrored and offset when reused)."""
    clips = [[letterbox_to(f, TILE) for f in sample_frames(v, step)] for v in videos]
    tiles = cols * cols
    sources = [(clips[i % len(clips)], i >= len(clips), 7 * (i // len(clips))) for i in range(tiles)]
    steps = max(len(c) for c in clips)
    for t in range(steps):
        rows = []
        for r in range(cols):
            row = []
            for c in range(cols):
                frames, mirrored, offset = sources[r * cols + c]
                tile = frames[ping_pong(t + offset, len(frames))]
                row.append(cv2.flip(tile, 1) if mirrored else tile)
            rows.append(np.hstack(row))
        yield np.vstack(rows)


def bench_gallery(detector: FaceDetector, frames: Iterator[np.ndarray], cols: int) -> dict[str, object]:
    """Detector + tracker over gallery frames: per tile, samples with a face and id switches."""
    tracker = FaceTracker()
    tiles = cols * cols
    seen = [0] * tiles
    switches = [0] * tiles
    ids: list[set[int]] = [set() for _ in range(tiles)]
    last: list[int | None] = [None] * tiles
    extra = 0
    steps = 0
    for frame in frames:
        steps += 1
        found = detector.detect(frame)
        track_ids = tracker.update(found)
        best: dict[int, tuple[float, int]] = {}  # tile -> (score, id) of its most confident face
        for det, track_id in zip(found, track_ids, strict=True):
            cx, cy = det.center
            tile = min(cols - 1, int(cy // TILE[1])) * cols + min(cols - 1, int(cx // TILE[0]))
            if tile in best:
                extra += 1
                if det.score <= best[tile][0]:
                    continue
            best[tile] = (det.score, track_id)
        for tile, (_score, track_id) in best.items():
            seen[tile] += 1
            ids[tile].add(track_id)
            if last[tile] is not None and last[tile] != track_id:
                switches[tile] += 1
            last[tile] = track_id
    return {
        "tiles": tiles,
        "steps": steps,
        "tile_recall": sum(seen) / max(1, steps * tiles),
        "id_switches": sum(switches),
        "switches_per_tile": switches,
        "ids_per_tile": [len(s) for s in ids],
        "extra_faces": extra,
    }


def markdown(single: dict[str, Summary], gallery: GalleryResults) -> str:
    lines = [
        "| backend | recall (exactly 1) | recall (≥ 1) | FP / 100 neg. frames | extra / 100 pos. frames "
        "| FP / 100 frames | median ms (p90) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in single.items():
        lines.append(
            f"| {name} | {s['recall_exactly_one']:.1%} | {s['recall_at_least_one']:.1%} "
            f"| {s['fp_per_100_negatives']:.2f} | {s['extra_per_100_positives']:.2f} "
            f"| {s['fp_per_100_frames']:.2f} | {s['median_ms']:.1f} ({s['p90_ms']:.1f}) |"
        )
    first = next(iter(single.values()), None)
    if first is not None:
        lines.append(
            f"\n{first['positive_frames']} positive frames, {first['negative_frames']} negative frames "
            "(painted-over heads + empty rooms), 640x480."
        )
    lines += [
        "",
        "| backend | frames with pose | attentive | median abs. yaw | per-clip median pitch |",
        "|---|---|---|---|---|",
    ]
    for name, s in single.items():
        pitch = s["clip_median_pitch_range"]
        pitch_text = f"{pitch[0]:+.0f}° … {pitch[1]:+.0f}°" if pitch else "–"
        yaw_text = f"{s['median_abs_yaw']:.0f}°" if s["pose_share"] else "–"
        attentive_text = f"{s['attentive_share']:.0%}" if s["pose_share"] else "–"
        lines.append(f"| {name} | {s['pose_share']:.0%} | {attentive_text} | {yaw_text} | {pitch_text} |")
    for name, s in single.items():
        if s["mesh_median_ms"] is not None:
            lines.append(
                f"\nFace mesh on {name}'s faces: eyes open in {s['eyes_open_share']:.1%} of frames, "
                f"median {s['mesh_median_ms']:.1f} ms per face."
            )
    if gallery:
        lines += [
            "",
            "| backend | gallery | tile recall | id switches (per tile) | ids per tile | extra faces |",
            "|---|---|---|---|---|---|",
        ]
        for name, layouts in gallery.items():
            for layout, g in layouts.items():
                lines.append(
                    f"| {name} | {layout} | {g['tile_recall']:.1%} | {g['id_switches']} "
                    f"{g['switches_per_tile']} | {g['ids_per_tile']} | {g['extra_faces']} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--step", type=int, default=5, help="use every STEP-th frame (default 5)")
    parser.add_argument("--videos", type=Path, default=VIDEOS, help="folder of .mp4 clips")
    parser.add_argument("--rooms", type=int, default=80, help="synthetic empty rooms (default 80)")
    parser.add_argument("--backends", default=",".join(DETECTOR_NAMES), help="comma-separated names; "
                        f"{PER_STREAM} = the live per-stream choice (BlazeFace / YuNet)")
    parser.add_argument("--no-gallery", action="store_true", help="skip the 2x2 / 3x3 tracking runs")
    parser.add_argument("--no-mesh", action="store_true", help="skip the face-mesh eye-state check")
    args = parser.parse_args(argv)

    videos = sorted(args.videos.glob("*.mp4")) if args.videos.is_dir() else []
    if not videos:
        print(f"no clips in {args.videos}: skipping the detector benchmark", file=sys.stderr)
        return 0
    names = [name for name in args.backends.split(",") if name]
    detectors = {name: build(name) for name in names}
    negative_detectors = {name: build(name) if name == PER_STREAM else detectors[name] for name in names}
    for name, detector in detectors.items():  # first calls allocate buffers: keep them out of the timings
        if name != PER_STREAM:
            detector.detect(letterbox_to(next(sample_frames(videos[0], 1)), CANVAS))
    stats = bench_single(detectors, videos, args.step, args.rooms, mesh=not args.no_mesh,
                         negative_detectors=negative_detectors)
    single = {name: s.summary() for name, s in stats.items()}
    gallery: GalleryResults = {}
    if not args.no_gallery:
        for name, detector in detectors.items():
            gallery[name] = {
                f"{cols}x{cols}": bench_gallery(build(name) if name == PER_STREAM else detector,
                                                gallery_frames(videos, args.step, cols), cols)
                for cols in (2, 3)
            }
    if args.json:
        report = {"single": single, "gallery": gallery, "videos": [v.name for v in videos]}
        print(json.dumps(report, indent=2))
    else:
        print(markdown(single, gallery))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
