"""Combine trained model folders into one ensemble folder (probabilities averaged).

Averaging two or three independently trained CNNs is the cheapest accuracy gain for
FER-2013-sized models; it multiplies inference cost by the number of members, so the
model card states both. Members are copied into ``members/<name>/`` so the ensemble
folder is self-contained, and its validation metrics are measured through the same
`EmotionClassifier` the bot uses. The test split is not read here.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

from model.bundle import META_FILE, ModelError, ModelMeta, read_meta


def make_ensemble(members: Sequence[str | Path], out_dir: str | Path, data: str | Path | None = None,
                  tta: str = "flip") -> ModelMeta:
    """Write an ensemble of `members` to `out_dir`; with `data`, record val metrics."""
    if len(members) < 2:
        raise ModelError("an ensemble needs at least two member model folders")
    out = Path(out_dir)
    metas = [read_meta(m) for m in members]
    if any(m.architecture == "ensemble" for m in metas):
        raise ModelError("members must be single models, not ensembles")
    names: list[str] = []
    for i, src in enumerate(members):
        name = f"m{i + 1}-{Path(src).name}"
        dest = out / "members" / name
        if dest.resolve() != Path(src).resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("members", "*.svg", "*.png"))
        names.append(f"members/{name}")
    first = metas[0]
    meta = ModelMeta(architecture="ensemble", hparams={}, tta=tta, members=tuple(names),
                     image_size=first.image_size, crop_size=first.crop_size, face_margin=first.face_margin,
                     training={"members": [str(m) for m in members]})
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).write_text(meta.to_json() + "\n")
    if data is not None:
        from model.classifier import EmotionClassifier
        from training.data import load_any
        from training.metrics import summarize

        val = load_any(data, "val")
        probs = EmotionClassifier.load(out).predict(val.images)
        m = summarize(val.labels, probs.argmax(axis=1))
        meta = dataclasses.replace(meta, metrics={"val": {k: m[k] for k in
                                                          ("accuracy", "balanced_accuracy", "macro_f1", "n")}})
        (out / META_FILE).write_text(meta.to_json() + "\n")
    return meta
