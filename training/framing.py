"""Measure how each face detector frames FER-2013 faces, and re-crop FER-2013 with it.

``python -m training.framing measure`` fits `model.framing.Framing` per detector. FER-2013
images are upscaled 4x (bicubic) and padded with 50 % mid-grey on each side, so the detector
sees a whole face with room around it and the true FER square is known exactly: the
upscaled image. For the largest detection in each image, in the face's upright frame (turned
by the eye line where the detector gives eyes), the script records the FER square's side and
its centre's offset from the anchor (eye midpoint, or box centre), in box widths. The medians
are the framing; the interquartile ranges say how consistent it is.

``python -m training.framing recrop`` writes an .npz of FER-2013 faces re-cut by the crop
function the bot uses (`model.preprocess.face_crop`) from the same upscaled, padded images: a
network trained on it sees faces framed and turned upright exactly as in production. Images
where the detector finds nothing keep their original crop.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from model.framing import Framing
from model.preprocess import IMAGE_SIZE, face_crop

UPSCALE = 4
PAD = 0.5  # of the upscaled side, on each side
PAD_VALUE = 128


def staged(gray48: np.ndarray, border: int | None = None) -> np.ndarray:
    """A FER face as the detector sees it in measurement: upscaled, padded (mid-grey by
    default), BGR. `border` is another OpenCV border mode, for the crop's source image."""
    import cv2

    big = cv2.resize(gray48, (IMAGE_SIZE * UPSCALE,) * 2, interpolation=cv2.INTER_CUBIC)
    p = int(IMAGE_SIZE * UPSCALE * PAD)
    if border is None:
        big = cv2.copyMakeBorder(big, p, p, p, p, cv2.BORDER_CONSTANT, value=PAD_VALUE)
    else:
        big = cv2.copyMakeBorder(big, p, p, p, p, border)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


def fer_square() -> tuple[float, float, float]:
    """Centre x, centre y and side of the original FER image inside `staged`'s output."""
    side = float(IMAGE_SIZE * UPSCALE)
    p = int(side * PAD)
    return p + side / 2.0, p + side / 2.0, side


def relation(det: Any) -> dict[str, float]:
    """The FER square relative to one detection, in box widths, in the upright frame."""
    cx, cy, side = fer_square()
    x, y, w, h = det.box
    pts = det.points
    out = {"w": float(w), "h_over_w": h / w, "side": side / w}
    right, left = pts.get("right_eye"), pts.get("left_eye")
    bx, by = x + w / 2.0, y + h / 2.0
    out["box_dx"], out["box_dy"] = (cx - bx) / w, (cy - by) / w
    if right is not None and left is not None:
        roll = math.atan2(left[1] - right[1], left[0] - right[0])
        ax, ay = (right[0] + left[0]) / 2.0, (right[1] + left[1]) / 2.0
        vx, vy = cx - ax, cy - ay
        cos, sin = math.cos(-roll), math.sin(-roll)
        out["eye_dx"] = (vx * cos - vy * sin) / w
        out["eye_dy"] = (vx * sin + vy * cos) / w
        out["roll_deg"] = math.degrees(roll)
        out["side_over_eye_distance"] = side / math.hypot(left[0] - right[0], left[1] - right[1])
    return out


def largest(dets: list[Any]) -> Any:
    return max(dets, key=lambda d: d.box[2] * d.box[3]) if dets else None


def measure(images: np.ndarray, detector: Any) -> dict[str, Any]:
    rows = []
    for img in images:
        det = largest(detector.detect(staged(img)))
        if det is not None:
            rows.append(relation(det))
    keys = sorted({k for r in rows for k in r})
    stats: dict[str, Any] = {"images": len(images), "detected": len(rows)}
    for k in keys:
        v = np.array([r[k] for r in rows if k in r])
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        stats[k] = {"median": round(float(med), 4), "iqr": [round(float(q1), 4), round(float(q3), 4)]}
    eyes = "eye_dx" in stats
    stats["framing"] = asdict(Framing(
        side=round(stats["side"]["median"], 3),
        dx=round(stats["eye_dx" if eyes else "box_dx"]["median"], 3),
        dy=round(stats["eye_dy" if eyes else "box_dy"]["median"], 3),
        anchor="eyes" if eyes else "box", rotate=eyes,
    ))
    return stats


def recrop(images: np.ndarray, detector: Any, framing: Framing) -> tuple[np.ndarray, np.ndarray]:
    """FER faces re-cut through the production crop; returns (patches, detected mask).

    The detector searches the grey-padded image (as in `measure`); the crop is cut from the
    same image padded by reflection instead, so where the square reaches beyond the 48x48
    original it shows plausible face-like texture (as a real photo would), not a grey wedge
    that the bot never sees.
    """
    import cv2

    out = np.empty_like(images)
    found = np.zeros(len(images), dtype=bool)
    for i, img in enumerate(images):
        det = largest(detector.detect(staged(img)))
        if det is None:
            out[i] = img
            continue
        out[i] = face_crop(staged(img, cv2.BORDER_REFLECT_101), det.box, det.points, framing)
        found[i] = True
        if i % 2000 == 0:
            print(f"recrop {i}/{len(images)}", file=sys.stderr, flush=True)
    return out, found


def main(argv: list[str] | None = None) -> int:
    from analysis.detect import make_detector
    from model.framing import framing_for
    from training.data import load_any

    ap = argparse.ArgumentParser(prog="python -m training.framing", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["measure", "recrop"])
    ap.add_argument("--data", default="../shared/datasets/fer2013")
    ap.add_argument("--split", default="train")
    ap.add_argument("--detectors", default="yunet,blazeface,haar")
    ap.add_argument("--sample", type=int, default=3000, help="images measured (random, seeded)")
    ap.add_argument("--cache", default="../classpulse-runs/cache")
    ap.add_argument("--out", help="recrop: .npz to write")
    args = ap.parse_args(argv)
    split = load_any(args.data, args.split, cache_dir=args.cache)
    if args.action == "measure":
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(len(split), min(args.sample, len(split)), replace=False))
        result = {}
        for name in args.detectors.split(","):
            t0 = time.perf_counter()
            result[name] = measure(split.images[idx], make_detector(name, min_face=20))
            result[name]["seconds"] = round(time.perf_counter() - t0, 1)
            print(name, json.dumps(result[name]), file=sys.stderr, flush=True)
        print(json.dumps(result, indent=2))
        return 0
    name = args.detectors.split(",")[0]
    t0 = time.perf_counter()
    patches, found = recrop(split.images, make_detector(name, min_face=20), framing_for(name))
    out = Path(args.out or f"{args.cache}/recrop-{name}-{args.split}.npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, images=patches, labels=split.labels, detected=found, paths=np.array(split.paths))
    print(f"{out}: {len(patches)} faces, {found.mean():.3f} detected, {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
