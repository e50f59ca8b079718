"""Classification metrics from a confusion matrix (pure numpy, no TensorFlow).

Accuracy alone flatters FER-2013 models (``happy`` is a quarter of the data, ``disgust``
1.5%), so every report also carries balanced accuracy (mean per-class recall), macro-F1
and per-class precision/recall/F1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model.labels import LABELS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(LABELS)) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has {p.shape}")
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def from_confusion(cm: np.ndarray, labels: tuple[str, ...] = LABELS) -> dict[str, Any]:
    """All summary metrics of a confusion matrix. Classes absent from the truth are left out
    of the balanced accuracy and macro-F1 (their recall is undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    total = cm.sum()
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i])}
        for i, name in enumerate(labels)
    }
    return {
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.astype(np.int64).tolist(),
        "labels": list(labels),
    }


def summarize(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    return from_confusion(confusion_matrix(y_true, y_pred))
