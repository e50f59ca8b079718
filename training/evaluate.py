"""Evaluate a model folder on labelled faces through the bot's own inference path.

`evaluate` runs `model.classifier.EmotionClassifier` (same preprocessing, same test-time
augmentation as production) and returns the metrics of `training.metrics`. With a
duplicates list (``duplicates.csv`` of the shared FER-2013 copy) it also reports accuracy
on the test images that have no byte-identical twin in train/ or val/.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from model.labels import LABELS
from training.metrics import summarize


def leaked_test_files(duplicates_csv: str | Path) -> set[str]:
    """Names of test images whose exact bytes also occur in train/ or val/."""
    groups: dict[str, list[str]] = defaultdict(list)
    with Path(duplicates_csv).open(newline="") as fh:
        for row in csv.DictReader(fh):
            groups[row["md5"]].append(row["path"])
    leaked: set[str] = set()
    for paths in groups.values():
        if any(p.startswith(("train/", "val/")) for p in paths):
            leaked.update(Path(p).name for p in paths if p.startswith("test/"))
    return leaked


def evaluate(model_dir: str | Path | None, data: str | Path, split: str = "test",
             duplicates_csv: str | Path | None = None, cache_dir: str | Path | None = None,
             ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Returns (metrics, true labels, predicted probabilities)."""
    from model.classifier import EmotionClassifier
    from training.data import load_any

    clf = EmotionClassifier.load(model_dir)
    ds = load_any(data, split, cache_dir=cache_dir)
    probs = np.concatenate([clf.predict(ds.images[i : i + 512]) for i in range(0, len(ds), 512)])
    pred = probs.argmax(axis=1)
    metrics = summarize(ds.labels, pred)
    metrics["model"] = str(model_dir or "committed model")
    metrics["data"] = str(data)
    metrics["tta"] = clf.meta.tta
    if duplicates_csv and Path(duplicates_csv).exists() and ds.paths:
        leaked = leaked_test_files(duplicates_csv)
        keep = np.array([Path(p).name not in leaked for p in ds.paths])
        if (~keep).any():
            clean = summarize(ds.labels[keep], pred[keep])
            metrics["without_duplicates"] = {k: clean[k] for k in ("n", "accuracy", "balanced_accuracy",
                                                                  "macro_f1")}
    return metrics, ds.labels, probs


def format_text(m: dict[str, Any]) -> str:
    """Human-readable metrics block with per-class table and confusion matrix."""
    lines = [
        f"images: {m['n']}   accuracy: {m['accuracy']:.4f}   balanced accuracy: "
        f"{m['balanced_accuracy']:.4f}   macro-F1: {m['macro_f1']:.4f}   (TTA: {m.get('tta', '?')})",
    ]
    if "without_duplicates" in m:
        d = m["without_duplicates"]
        lines.append(f"without train/val duplicates: {d['n']} images, accuracy {d['accuracy']:.4f}, "
                     f"balanced accuracy {d['balanced_accuracy']:.4f}")
    lines.append("")
    lines.append(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for name, c in m["per_class"].items():
        lines.append(f"{name:<10}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>10.3f}{c['support']:>10d}")
    lines.append("")
    lines.append("confusion matrix (rows: true, columns: predicted)")
    lines.append(" " * 10 + "".join(f"{n[:7]:>8}" for n in LABELS))
    for name, row in zip(LABELS, m["confusion_matrix"], strict=True):
        lines.append(f"{name:<10}" + "".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)


def plot_confusion(m: dict[str, Any], path: str | Path) -> Path:
    """Row-normalised confusion matrix as an image (PNG or SVG by suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(m["confusion_matrix"], dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] < 0.5 else "black")
    ax.set_title(f"accuracy {m['accuracy']:.3f}, balanced {m['balanced_accuracy']:.3f} (n={m['n']})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_curves(history_csv: str | Path, path: str | Path) -> Path | None:
    """Training curves (loss and accuracy, train vs val) from a run's history.csv."""
    src = Path(history_csv)
    if not src.exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with src.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    epochs = list(range(1, len(rows) + 1))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", a1), ("accuracy", a2)):
        ax.plot(epochs, [float(r[key]) for r in rows], label=f"train {key}", color="#0072B2")
        ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], label=f"val {key}", color="#D55E00")
        for i in range(1, len(rows)):  # a fine-tuning stage starts here
            if rows[i].get("stage", "1") != rows[i - 1].get("stage", "1"):
                ax.axvline(i + 0.5, color="#555555", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch (dotted line: a fine-tuning stage begins)" if "stage" in rows[0] else "epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
