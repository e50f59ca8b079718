"""Cost of the whole per-frame analysis path, decode excluded, at 1 and 9 faces per frame.

    python -m analysis.bench_pipeline [--repeats 40] [--json]

For a 640x480 frame holding one face (a webcam tile) and a 960x720 3x3 gallery of 320x240
tiles holding nine (built from ../shared/datasets/videos), it times `Analyzer.analyze` on one sample — detection,
tracking, head pose, face mesh (eyes), quality flags and the batched emotion call — and also
each stage alone, with emotions on and off. Medians after a warm-up; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from analysis.bench_detect import CANVAS, VIDEOS, gallery_frames, letterbox_to, sample_frames
from analysis.pipeline import Analyzer, Sample, Settings


def _frames(cols: int, n: int) -> list[np.ndarray]:
    clips = sorted(Path(VIDEOS).glob("*.mp4"))
    if cols == 1:
        frames = [letterbox_to(f, CANVAS) for f in sample_frames(clips[1], 5)]
    else:
        frames = list(gallery_frames(clips, 5, cols))
    return [frames[i % len(frames)] for i in range(n)]


def measure(settings: Settings, frames: list[np.ndarray], warmup: int = 5) -> dict[str, Any]:
    analyzer = Analyzer(settings)
    for k, f in enumerate(frames[:warmup]):
        analyzer.analyze([Sample("bench", "p", float(k), f)])
    totals: list[float] = []
    per_stage: dict[str, list[float]] = {"detect": [], "signals": [], "classify": []}
    faces: list[int] = []
    for k, f in enumerate(frames):
        before = (analyzer.timings.detect, analyzer.timings.signals, analyzer.timings.classify)
        t0 = time.perf_counter()
        obs = analyzer.analyze([Sample("bench", "p", float(warmup + k), f)])
        totals.append((time.perf_counter() - t0) * 1000)
        after = (analyzer.timings.detect, analyzer.timings.signals, analyzer.timings.classify)
        for name, a, b in zip(per_stage, before, after, strict=True):
            per_stage[name].append((b - a) * 1000)
        faces.append(len(obs[0].faces))
    return {
        "faces_per_frame_median": statistics.median(faces),
        "ms_per_sample": round(statistics.median(totals), 2),
        "ms_detect": round(statistics.median(per_stage["detect"]), 2),
        "ms_signals": round(statistics.median(per_stage["signals"]), 2),
        "ms_classify": round(statistics.median(per_stage["classify"]), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--detector", default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not any(Path(VIDEOS).glob("*.mp4")):
        print(f"no clips in {VIDEOS}; nothing to measure", file=sys.stderr)
        return 0
    rows = []
    for cols in (1, 3):
        frames = _frames(cols, args.repeats)
        for emotions in (True, False):
            r = measure(Settings(detector=args.detector, emotions=emotions), frames)
            rows.append({"faces": cols * cols, "emotions": emotions, **r})
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| faces in frame | emotions | faces found (median) | ms per sample | detect | pose+mesh+quality "
          "| emotion call |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['faces']} | {'on' if r['emotions'] else 'off'} | {r['faces_per_frame_median']:g} | "
              f"{r['ms_per_sample']} | {r['ms_detect']} | {r['ms_signals']} | {r['ms_classify']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
