"""Whole-path evaluation: full labelled photos through detector → crop → classifier.

FER-2013 accuracy scores faces someone already framed. A teacher relies on the whole path —
the detector frames the face, `model.preprocess` crops it, the classifier reads it — and a
model can win on crops and lose on that path. `evaluate_frames` runs exactly the bot's path:
`analysis.pipeline.Analyzer` (the class the bot and `classpulse analyze` use), one fresh
participant per image so no tracker state carries over between photos.

Scoring, per image (`n` = images, not faces):
- the image's reading is its largest face's emotion (the person nearest the camera, as the
  reports' primary face);
- an image with no detected face counts as wrong: it sits in the extra ``no_face`` column of
  the confusion matrix, lowers accuracy and every class's recall, and `detection_rate` says how
  often it happened;
- the distribution of predicted labels is reported beside the truth's, because a model that
  answers "neutral" far more often than the truth has a domain problem that accuracy hides.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.labels import LABELS, label_index
from training.data import IMAGE_SUFFIXES, DataError
from training.metrics import confusion_matrix, from_confusion

NO_FACE = "no_face"
#: Columns of the frames confusion matrix: the seven labels, then "no face found".
FRAME_LABELS: tuple[str, ...] = (*LABELS, NO_FACE)


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: int


@dataclass(frozen=True)
class ImageResult:
    """What the path made of one image: its faces, largest first (empty: none found)."""

    path: str
    label: int
    faces: tuple[dict[str, Any], ...]

    @property
    def predicted(self) -> int:
        """Index into FRAME_LABELS: the largest face's emotion, or NO_FACE."""
        if not self.faces:
            return len(LABELS)
        return LABELS.index(self.faces[0]["emotion"])


def list_images(root: str | Path) -> list[LabelledImage]:
    """``<label>/<image>`` files under `root`, sorted; unknown labels and non-images are errors."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    items: list[LabelledImage] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            idx = label_index(sub.name)
        except ValueError as exc:
            raise DataError(f"{sub}: {exc}") from None
        for file in sorted(sub.iterdir()):
            if file.is_dir() or file.name.startswith("."):
                continue
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{file}: not an image file (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
            items.append(LabelledImage(file, idx))
    if not items:
        raise DataError(f"{root}: no <label>/<image> files found")
    return items


def read_bgr(path: Path) -> np.ndarray:
    """A photo as a BGR uint8 frame (grey and alpha images converted), or DataError."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise DataError(f"{path}: unreadable image")
    return img


def run_path(items: Sequence[LabelledImage], analyzer: Any, batch: int = 32) -> Iterator[ImageResult]:
    """Each image through `analyzer` (an `analysis.pipeline.Analyzer`), `batch` images per call."""
    from analysis.jsonable import face_json
    from analysis.pipeline import Sample
    from analysis.records import State

    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        samples = [Sample("evaluate-frames", f"img{start + i}", 0.0, read_bgr(it.path))
                   for i, it in enumerate(chunk)]
        observations = analyzer.analyze(samples)
        for i, (it, obs) in enumerate(zip(chunk, observations, strict=True)):
            analyzer.forget("evaluate-frames", f"img{start + i}")
            faces = tuple(face_json(f) for f in obs.faces) if obs.state is State.PRESENT else ()
            yield ImageResult(str(it.path), it.label, faces)


def score(results: Sequence[ImageResult]) -> dict[str, Any]:
    """Metrics over images (a missed face is wrong), in `training.evaluate`'s JSON shape."""
    if not results:
        raise ValueError("no images to score")
    truth = np.array([r.label for r in results], dtype=np.int64)
    pred = np.array([r.predicted for r in results], dtype=np.int64)
    cm = confusion_matrix(truth, pred, n=len(FRAME_LABELS))
    metrics = from_confusion(cm, FRAME_LABELS)
    # "no_face" is a column, never a truth: keep it out of the per-class table.
    metrics["per_class"].pop(NO_FACE)
    metrics["confusion_matrix"] = cm[: len(LABELS)].tolist()
    metrics["labels"] = list(LABELS)
    metrics["columns"] = list(FRAME_LABELS)
    found = pred != len(LABELS)
    metrics["detection_rate"] = float(found.mean())
    metrics["images_without_face"] = int((~found).sum())
    metrics["images_with_several_faces"] = int(sum(len(r.faces) > 1 for r in results))
    metrics["accuracy_on_detected"] = float((pred[found] == truth[found]).mean()) if found.any() else 0.0
    metrics["predicted_distribution"] = {name: int(c) for name, c in
                                         zip(FRAME_LABELS, np.bincount(pred, minlength=len(FRAME_LABELS)),
                                             strict=True)}
    metrics["true_distribution"] = {name: int(c) for name, c in
                                    zip(LABELS, np.bincount(truth, minlength=len(LABELS)), strict=True)}
    uncertain = [r.faces[0].get("uncertain", False) for r in results if r.faces]
    metrics["uncertain_share"] = float(np.mean(uncertain)) if uncertain else 0.0
    return metrics


def evaluate_frames(data: str | Path, settings: Any, analyzer: Any = None, batch: int = 32,
                    ) -> tuple[dict[str, Any], list[ImageResult]]:
    """Run every ``<label>/<image>`` photo under `data` through the production path.

    `settings` is an `analysis.pipeline.Settings` (the configured detector, model folder,
    face size); `analyzer` may be injected (tests), otherwise one is built from `settings`.
    """
    from analysis.pipeline import Analyzer

    items = list_images(data)
    if analyzer is None:
        analyzer = Analyzer(settings)
    results = list(run_path(items, analyzer, batch=batch))
    metrics = score(results)
    metrics["data"] = str(data)
    metrics["detector"] = getattr(analyzer.detector, "name", "?")
    clf = analyzer.classifier if settings.emotions else None
    metrics["model"] = str(settings.model_dir or "committed model")
    meta = getattr(clf, "meta", None)
    if meta is not None:
        metrics["tta"] = meta.tta
    version = getattr(clf, "version", None)
    if version:
        metrics["model_version"] = version
    return metrics, results


def format_text(m: dict[str, Any]) -> str:
    """The terminal rendering: headline figures, per-class recall, confusion, distributions."""
    lines = [
        f"images: {m['n']}   detection rate: {m['detection_rate']:.4f}   accuracy: {m['accuracy']:.4f}   "
        f"balanced accuracy: {m['balanced_accuracy']:.4f}   macro-F1: {m['macro_f1']:.4f}",
        f"detector: {m.get('detector', '?')}   model: {m.get('model', '?')}   "
        f"accuracy on images with a face: {m['accuracy_on_detected']:.4f}   "
        f"several faces: {m['images_with_several_faces']}",
        "",
        f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}{'predicted':>10}",
    ]
    for name, c in m["per_class"].items():
        lines.append(f"{name:<10}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>10.3f}"
                     f"{c['support']:>10d}{m['predicted_distribution'][name]:>10d}")
    lines.append(f"{NO_FACE:<10}{'':>40}{m['predicted_distribution'][NO_FACE]:>10d}")
    lines.append("")
    lines.append("confusion matrix (rows: true, columns: predicted; last column: no face found)")
    lines.append(" " * 10 + "".join(f"{n[:7]:>8}" for n in FRAME_LABELS))
    for name, row in zip(LABELS, m["confusion_matrix"], strict=True):
        lines.append(f"{name:<10}" + "".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)
