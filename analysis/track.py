"""Stable face ids within one participant's video track.

Reports follow a face over the whole class, so the same person must keep the same id from
sample to sample even when the detector misses them for a moment (a hand over the face, a
turn of the head). One track can show several faces (a gallery view, a classroom camera),
so faces are matched to known tracks as a small assignment problem:

- a detection may continue a track when their boxes overlap (IoU) or its centre moved less
  than a fraction of the face size, and the size did not jump;
- tracks seen in the previous sample are matched first, then tracks that have been missing
  for up to `max_gap` samples (re-identification near the last known box, with a wider
  allowance for movement);
- within each stage pairs are taken greedily, best score first. With a handful of faces
  per track and well-separated boxes the greedy choice equals the optimal assignment in
  practice, and it needs no extra dependency;
- whatever stays unmatched is a new face with a new id. Ids are never reused.

Samples come about once a second, so there is no motion model: people at a desk move
little between samples, and a constant-velocity guess would mostly add noise.

The matching rules are pure functions; `FaceTracker` only keeps the track list between calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from analysis.detect import Detection
from analysis.records import Box


@dataclass(frozen=True)
class TrackerConfig:
    #: Samples a face may go undetected and still keep its id when it comes back.
    max_gap: int = 10
    #: Box overlap that alone is enough to continue a track.
    min_iou: float = 0.2
    #: Centre movement, in face sizes, allowed between consecutive samples.
    max_shift: float = 0.75
    #: Centre movement, in face sizes, allowed when a face comes back after a gap.
    max_reid_shift: float = 1.0
    #: Largest ratio of box sizes (either way) that can still be the same face.
    max_scale_change: float = 1.8


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def face_size(box: Box) -> float:
    """Geometric mean of the box sides: a size that does not depend on the aspect ratio."""
    return math.sqrt(max(box[2], 1) * max(box[3], 1))


def center_shift(a: Box, b: Box) -> float:
    """Distance between the box centres, in units of `a`'s face size."""
    dx = (b[0] + b[2] / 2.0) - (a[0] + a[2] / 2.0)
    dy = (b[1] + b[3] / 2.0) - (a[1] + a[3] / 2.0)
    return math.hypot(dx, dy) / face_size(a)


def scale_change(a: Box, b: Box) -> float:
    """Ratio of the larger to the smaller face size (1 = same size)."""
    sa, sb = face_size(a), face_size(b)
    return max(sa, sb) / min(sa, sb)


def match_score(track_box: Box, box: Box, gap: int, config: TrackerConfig) -> float | None:
    """How well `box` continues a track last seen at `track_box` `gap` samples ago.

    None when it cannot be the same face; otherwise higher is better (0..2).
    """
    if scale_change(track_box, box) > config.max_scale_change:
        return None
    overlap = iou(track_box, box)
    limit = config.max_shift if gap == 0 else config.max_reid_shift
    shift = center_shift(track_box, box)
    if overlap < config.min_iou and shift > limit:
        return None
    return overlap + max(0.0, 1.0 - shift / limit)


def greedy_assignment(scores: Sequence[Sequence[float | None]]) -> list[tuple[int, int]]:
    """Pairs (row, column) taken best score first, each row and column at most once."""
    pairs = [
        (score, r, c)
        for r, row in enumerate(scores)
        for c, score in enumerate(row)
        if score is not None
    ]
    pairs.sort(key=lambda item: (-item[0], item[1], item[2]))
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    chosen = []
    for _score, r, c in pairs:
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        chosen.append((r, c))
    return chosen


@dataclass
class _Track:
    track_id: int
    box: Box
    missed: int = 0


def _as_box(item: Detection | Box) -> Box:
    if isinstance(item, Detection):
        return item.box
    x, y, w, h = item
    return int(x), int(y), int(w), int(h)


class FaceTracker:
    """Gives each face in one video track an id that stays the same across samples."""

    def __init__(self, config: TrackerConfig | None = None, first_id: int = 1) -> None:
        self.config = config or TrackerConfig()
        self._next_id = first_id
        self._tracks: list[_Track] = []

    @property
    def active_ids(self) -> list[int]:
        """Ids of the faces being followed, including those missing for less than `max_gap`."""
        return [t.track_id for t in self._tracks]

    def reset(self) -> None:
        """Forget every face (ids keep counting up, so old ids are never handed out again)."""
        self._tracks = []

    def update(self, detections: Sequence[Detection | Box]) -> list[int]:
        """Match one sample's faces to known ones; returns one id per detection, in order.

        Call it for every sample in which the video was on, with an empty list when no face
        was found, so that gaps are counted.
        """
        boxes = [_as_box(d) for d in detections]
        ids: dict[int, int] = {}
        free = list(range(len(boxes)))
        for stage in (
            [t for t in self._tracks if t.missed == 0],
            sorted((t for t in self._tracks if t.missed > 0), key=lambda t: t.missed),
        ):
            scores = [[match_score(t.box, boxes[j], t.missed, self.config) for j in free] for t in stage]
            matched_cols = set()
            for r, c in greedy_assignment(scores):
                track, j = stage[r], free[c]
                track.box, track.missed = boxes[j], -1  # -1: seen now, becomes 0 below
                ids[j] = track.track_id
                matched_cols.add(c)
            free = [j for c, j in enumerate(free) if c not in matched_cols]
        for track in self._tracks:
            track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.config.max_gap]
        for j in free:
            track = _Track(track_id=self._next_id, box=boxes[j])
            self._next_id += 1
            self._tracks.append(track)
            ids[j] = track.track_id
        return [ids[j] for j in range(len(boxes))]
