"""Load FER-2013 in the two forms users have into the same arrays.

- The original ``fer2013.csv`` (columns ``emotion,pixels,Usage``; 2304 space-separated
  pixel values per row; ``Usage`` is Training / PublicTest / PrivateTest).
- A folder of ``<label>/<image>`` sub-folders (the Kaggle layout), or a folder holding
  ``train/``, ``val/`` and ``test/`` such folders.

Both return a `Split`: ``images`` uint8 (N, 48, 48) and ``labels`` int64 (N,) indexed by
`model.labels.LABELS`. Bad input raises `DataError` naming the row or file; nothing is
skipped silently, because a silently shrunken test set makes accuracy figures meaningless.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.labels import LABELS, label_index
from model.preprocess import IMAGE_SIZE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm"}
#: Usage values of the CSV and the split names used everywhere else.
CSV_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


class DataError(ValueError):
    """Malformed dataset input; the message names the file and row."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64
    paths: tuple[str, ...] = ()  # source file per image (folder layout) or "csv:ROW"

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(LABELS))


def load_csv(path: str | Path, usage: str | None = None) -> dict[str, Split]:
    """Read ``fer2013.csv``; returns splits keyed ``train``/``val``/``test`` (or only `usage`)."""
    path = Path(path)
    images: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[int]] = {}
    refs: dict[str, list[str]] = {}
    try:
        fh = path.open(newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror})") from exc
    with fh:
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                            f"expected emotion,pixels[,Usage]")
        for row_no, row in enumerate(reader, start=2):  # row 1 is the header
            where = f"{path}:{row_no}"
            raw_usage = (row.get("Usage") or "Training").strip()
            if raw_usage not in CSV_USAGE:
                raise DataError(f"{where}: unknown Usage {raw_usage!r}; expected {', '.join(CSV_USAGE)}")
            split = CSV_USAGE[raw_usage]
            if usage is not None and split != usage:
                continue
            try:
                label = int(row["emotion"])
            except (TypeError, ValueError):
                raise DataError(f"{where}: emotion {row['emotion']!r} is not an integer 0-6") from None
            if not 0 <= label < len(LABELS):
                raise DataError(f"{where}: emotion {label} out of range 0-{len(LABELS) - 1}")
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except (AttributeError, ValueError):
                raise DataError(f"{where}: pixels must be space-separated integers") from None
            if pixels.size != IMAGE_SIZE * IMAGE_SIZE:
                raise DataError(f"{where}: {pixels.size} pixel values, expected {IMAGE_SIZE * IMAGE_SIZE}")
            if pixels.min() < 0 or pixels.max() > 255:
                raise DataError(f"{where}: pixel values must lie in 0..255")
            images.setdefault(split, []).append(pixels.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
            labels.setdefault(split, []).append(label)
            refs.setdefault(split, []).append(where)
    if not labels:
        raise DataError(f"{path}: no rows" + (f" with Usage for {usage!r}" if usage else ""))
    return {
        name: Split(np.stack(images[name]), np.array(labels[name], dtype=np.int64), tuple(refs[name]))
        for name in labels
    }


def _read_image(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if img is None:
        raise DataError(f"{path}: unreadable image")
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
        img = cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return img


def load_folder(root: str | Path) -> Split:
    """Read a ``<label>/<image>`` folder; every sub-folder must be a known label."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not subdirs:
        raise DataError(f"{root}: no <label>/ sub-folders found")
    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[str] = []
    for sub in subdirs:
        try:
            idx = label_index(sub.name)
        except ValueError as exc:
            raise DataError(f"{sub}: {exc}") from None
        for file in sorted(sub.iterdir()):
            if file.is_dir() or file.name.startswith("."):
                continue
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{file}: not an image file (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
            images.append(_read_image(file))
            labels.append(idx)
            paths.append(str(file))
    if not images:
        raise DataError(f"{root}: the label folders hold no images")
    return Split(np.stack(images), np.array(labels, dtype=np.int64), tuple(paths))


def _cache_key(root: Path) -> str:
    h = hashlib.sha1(str(root.resolve()).encode())
    for sub in sorted(root.iterdir()):
        if sub.is_dir():
            st = sub.stat()
            h.update(f"{sub.name}:{st.st_mtime_ns}:{sum(1 for _ in sub.iterdir())}".encode())
    return h.hexdigest()[:16]


def load_folder_cached(root: str | Path, cache_dir: str | Path | None = None) -> Split:
    """`load_folder` with an .npz cache (decoding 28k JPEGs takes a while on 2 cores)."""
    root = Path(root)
    if cache_dir is None:
        return load_folder(root)
    cache = Path(cache_dir) / f"{root.name}-{_cache_key(root)}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return Split(z["images"], z["labels"], tuple(z["paths"].tolist()))
    split = load_folder(root)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, images=split.images, labels=split.labels, paths=np.array(split.paths))
    tmp.replace(cache)
    return split


def load_any(source: str | Path, split: str = "test", cache_dir: str | Path | None = None) -> Split:
    """Load one split from a CSV, a ``<label>/`` folder, or a folder with train/val/test inside."""
    source = Path(source)
    if source.is_file():
        splits = load_csv(source, usage=split if _has_usage(source) else None)
        return splits.get(split) or next(iter(splits.values()))
    if (source / split).is_dir():
        return load_folder_cached(source / split, cache_dir)
    return load_folder_cached(source, cache_dir)


def _has_usage(path: Path) -> bool:
    with path.open(newline="") as fh:
        header = fh.readline()
    return "Usage" in header
