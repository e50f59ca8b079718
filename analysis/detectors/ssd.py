"""Anchor grid, box decoding and weighted non-maximum suppression for BlazeFace-style models.

BlazeFace is a single-shot detector: for every anchor (a fixed point on a grid over the
square input) the network outputs one face logit and 16 regression numbers — box centre
offset, box width and height, and six keypoint offsets, all in input pixels relative to the
anchor centre. The anchors are fixed-size, so only their centres matter. Everything here is
plain NumPy on normalised coordinates (0..1 of the square input); mapping back to frame
pixels is the caller's job.

Weighted NMS (blending the overlapping candidates instead of keeping only the best one) is
what BlazeFace was published with; it steadies boxes and keypoints between frames, which
helps tracking and head pose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Values in regression rows: 4 box numbers + 6 keypoints x 2.
NUM_KEYPOINTS = 6
ROW_LENGTH = 4 + 2 * NUM_KEYPOINTS


@dataclass(frozen=True)
class AnchorLayer:
    """One feature map: cells are `stride` input pixels wide, with `per_cell` anchors each."""

    stride: int
    per_cell: int


def anchor_centers(input_size: int, layers: Sequence[AnchorLayer]) -> np.ndarray:
    """(N, 2) anchor centres in 0..1, in the order the model emits its rows.

    Within one layer the order is row-major over cells, with a cell's anchors adjacent.
    """
    parts = []
    for layer in layers:
        cells = input_size // layer.stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        centers = np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)
        parts.append(np.repeat(centers, layer.per_cell, axis=0))
    return np.concatenate(parts).astype(np.float32)


@dataclass(frozen=True)
class Candidates:
    """Decoded detections in normalised input coordinates."""

    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1
    keypoints: np.ndarray  # (N, NUM_KEYPOINTS, 2) x, y
    scores: np.ndarray  # (N,) 0..1

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Logistic function, clipped so extreme logits neither overflow nor underflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))


def decode(
    regressors: np.ndarray,
    logits: np.ndarray,
    anchors: np.ndarray,
    input_size: int,
    min_score: float,
) -> Candidates:
    """Turn raw model outputs into the candidates that clear `min_score`.

    `regressors` is (N, 16), `logits` is (N,) or (N, 1), `anchors` is (N, 2).
    """
    scores = sigmoid(np.asarray(logits, dtype=np.float32).reshape(-1))
    keep = np.flatnonzero(scores >= min_score)
    raw = np.asarray(regressors, dtype=np.float32)[keep] / float(input_size)
    centers = anchors[keep]
    cx = raw[:, 0] + centers[:, 0]
    cy = raw[:, 1] + centers[:, 1]
    half_w, half_h = raw[:, 2] / 2.0, raw[:, 3] / 2.0
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = raw[:, 4:ROW_LENGTH].reshape(-1, NUM_KEYPOINTS, 2) + centers[:, None, :]
    return Candidates(boxes=boxes, keypoints=keypoints, scores=scores[keep])


def iou_matrix(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one corner-form box with each of `boxes`."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0.0, None) * np.clip(iy1 - iy0, 0.0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0.0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(candidates: Candidates, iou_threshold: float = 0.3) -> Candidates:
    """Merge overlapping candidates into one detection per face.

    Repeatedly take the best remaining candidate, gather every remaining candidate that
    overlaps it by more than `iou_threshold`, and replace the group by its score-weighted
    mean box and keypoints, keeping the group's best score.
    """
    order = np.argsort(-candidates.scores, kind="stable")
    boxes = candidates.boxes[order]
    keypoints = candidates.keypoints[order]
    scores = candidates.scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    out_boxes, out_points, out_scores = [], [], []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        idx = np.flatnonzero(remaining)
        group = idx[iou_matrix(boxes[i], boxes[idx]) > iou_threshold]
        group = np.union1d(group, [i])
        weights = scores[group] / scores[group].sum()
        out_boxes.append((boxes[group] * weights[:, None]).sum(axis=0))
        out_points.append((keypoints[group] * weights[:, None, None]).sum(axis=0))
        out_scores.append(scores[i])
        remaining[group] = False
    if not out_scores:
        return Candidates(
            boxes=np.zeros((0, 4), np.float32),
            keypoints=np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
            scores=np.zeros((0,), np.float32),
        )
    return Candidates(
        boxes=np.asarray(out_boxes, np.float32),
        keypoints=np.asarray(out_points, np.float32),
        scores=np.asarray(out_scores, np.float32),
    )
