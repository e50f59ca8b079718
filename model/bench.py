"""Inference cost of the emotion classifier, from an already-loaded model.

    python -m model.bench [--model DIR] [--repeats 50] [--json]

Prints the median milliseconds per face for batches of 32 and for a single face, through
`EmotionClassifier.predict` (the path the bot uses, test-time augmentation included).
A benchmark, not a test: the machines are shared and noisy, so it reports medians of
many repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def _median_ms(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder (default: the committed model)")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--policy", help="Keras dtype policy (default: best for this CPU)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from model.classifier import EmotionClassifier, best_policy

    clf = EmotionClassifier.load(args.model, policy=args.policy)
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (32, 48, 48), dtype=np.uint8)
    single = batch[:1]
    for _ in range(5):  # warm-up: tracing and oneDNN primitive creation
        clf.predict(batch)
        clf.predict(single)
    b32 = _median_ms(lambda: clf.predict(batch), args.repeats)
    one = _median_ms(lambda: clf.predict(single), args.repeats)
    result = {
        "policy": args.policy or best_policy(),
        "tta": clf.meta.tta,
        "batch32_ms_per_face": round(b32 / 32, 3),
        "batch32_ms_per_call": round(b32, 2),
        "single_face_ms": round(one, 2),
        "repeats": args.repeats,
        "threads": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"policy {result['policy']}, TTA {result['tta']}: batch of 32 -> {result['batch32_ms_per_face']} "
              f"ms/face ({result['batch32_ms_per_call']} ms/call); single face -> {result['single_face_ms']} ms "
              f"(median of {args.repeats})")


if __name__ == "__main__":
    main()
