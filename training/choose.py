"""Choose a stage's epoch on FER-2013 val and on the whole-path development set.

A run trained with ``--save-every-epoch`` keeps every epoch's weights. Val accuracy alone
picks the epoch that reads FER-2013 crops best; the product needs the one that reads faces
through the whole path too. This scores every kept epoch (and ``best.weights.h5``) on both:
val accuracy and balanced accuracy with flip TTA, and whole-path accuracy on the development
set (`training.evaluate_frames`' rules: the largest face per photo, a missed face is wrong).
The dev photos go through detection and cropping once (`analysis.faces`, the production
path); only the classifier changes between epochs. The test split is never read here.

    python -m training.choose ../classpulse-runs/vgg-path-ft --dev ../shared/datasets/expressions-dev
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training.metrics import summarize


def dev_patches(dev: str | Path, detector_name: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patches, labels, found) of every dev photo's largest face, through the production crop."""
    from analysis.detect import make_detector
    from analysis.faces import face_patches, find_faces
    from training.evaluate_frames import list_images, read_bgr

    detector = make_detector(detector_name)
    patches, labels, found = [], [], []
    for item in list_images(dev):
        frame = read_bgr(item.path)
        faces = find_faces(detector, frame)[:1]
        patches.append(face_patches(frame, faces, detector.name)[0] if faces else np.zeros((48, 48), np.uint8))
        labels.append(item.label)
        found.append(bool(faces))
    return np.stack(patches), np.array(labels), np.array(found)


def whole_path(pred: np.ndarray, labels: np.ndarray, found: np.ndarray) -> dict[str, Any]:
    ok = (pred == labels) & found
    recall = [float(ok[labels == c].mean()) for c in np.unique(labels)]
    dist = np.bincount(pred[found], minlength=7).tolist()
    return {"accuracy": float(ok.mean()), "balanced_accuracy": float(np.mean(recall)), "predicted": dist}


def score_weights(cfg: Any, weights: Path, val: Any, dev: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                  ) -> dict[str, Any]:
    """Val and dev figures of one weights file of `cfg`'s architecture (a `TrainConfig`)."""
    import keras

    from model.architectures import build
    from model.bundle import ModelMeta
    from model.classifier import EmotionClassifier, best_policy

    keras.mixed_precision.set_global_policy(best_policy())
    net = build(cfg.architecture, **cfg.hparams)
    net.load_weights(str(weights))
    clf = EmotionClassifier(net, ModelMeta(cfg.architecture, cfg.hparams, tta="flip"))
    vm = summarize(val.labels, clf.predict(val.images).argmax(1))
    row: dict[str, Any] = {"weights": str(weights), "val_accuracy": vm["accuracy"],
                           "val_balanced": vm["balanced_accuracy"]}
    if dev is not None:
        d = whole_path(clf.predict(dev[0]).argmax(1), dev[1], dev[2])
        row.update({"dev_accuracy": d["accuracy"], "dev_balanced": d["balanced_accuracy"],
                    "dev_predicted": d["predicted"]})
    return row


def main(argv: list[str] | None = None) -> int:
    from training.data import load_any
    from training.train import TrainConfig

    ap = argparse.ArgumentParser(prog="python -m training.choose", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders, or weights files of the first run's architecture")
    ap.add_argument("--dev", help="expressions-dev folder (whole-path accuracy)")
    ap.add_argument("--detector", default="auto")
    ap.add_argument("--dev-cache", help=".npz keeping the dev patches between calls (same detector and code)")
    ap.add_argument("--last", type=int, default=0, help="only the last N epochs of each run (0: all)")
    args = ap.parse_args(argv)
    first = Path(args.runs[0])
    run0 = first if first.is_dir() else first.parent.parent  # <run>/epochs/NN.weights.h5
    cfg = TrainConfig.from_json((run0 / "config.json").read_text())
    val = load_any(cfg.data, "val", cache_dir=run0.parent / "cache")
    dev = None
    if args.dev:
        cache = Path(args.dev_cache) if args.dev_cache else None
        if cache is not None and cache.exists():
            with np.load(cache) as z:
                dev = (z["images"], z["labels"], z["found"])
        else:
            dev = dev_patches(args.dev, args.detector)
            if cache is not None:
                np.savez(cache, images=dev[0], labels=dev[1], found=dev[2])
    rows = []
    for arg in args.runs:
        path = Path(arg)
        if path.is_dir():
            files = sorted((path / "epochs").glob("*.weights.h5"))
            files = (files[-args.last:] if args.last else files) + [path / "best.weights.h5"]
        else:
            files = [path]
        for f in files:
            if f.exists():
                row = score_weights(cfg, f, val, dev)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
