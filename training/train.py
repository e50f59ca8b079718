"""Train the emotion CNN: resumable, bf16 on capable CPUs, selected on val only.

A run lives in one folder (``runs/NAME``):
- ``config.json``  the hyper-parameters it was started with (a resumed run reuses them),
- ``backup/``      Keras `BackupAndRestore` state: weights, optimizer and epoch, written
                   every epoch, so a killed run continues where it stopped,
- ``best.weights.h5``  the weights with the best validation accuracy so far,
- ``history.csv``  per-epoch loss/accuracy for train and val (the training curves).

``export`` turns the best weights into a model folder (`model.bundle`) with val metrics.
The test split is never read here: it is reported once, by `training.evaluate`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.labels import LABELS, NUM_CLASSES


@dataclass(frozen=True)
class TrainConfig:
    data: str
    run_dir: str
    architecture: str = "vgg"
    hparams: dict[str, Any] = field(default_factory=dict)
    epochs: int = 26
    batch_size: int = 64
    peak_lr: float = 2e-3
    warmup_epochs: float = 1.0
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5  # weights ∝ (1/frequency)^power, mean 1
    patience: int = 10
    seed: int = 1
    precision: str = "auto"  # auto | mixed_bfloat16 | float32
    max_steps_per_epoch: int | None = None  # for smoke tests
    # Start from another run's weights (a second, fine-tuning stage with a fresh schedule);
    # the path is recorded so the whole recipe can be replayed from scratch.
    init_weights: str | None = None
    #: Augmentation recipe (`training.augment.RECIPES`): "fer" (the first models) or "path".
    augment: str = "fer"
    #: An .npz of the train faces re-cut through the production crop (`training.framing
    #: recrop`), in train/'s order; each epoch takes every face from it with `recrop_prob`.
    recrop: str | None = None
    recrop_prob: float = 0.5
    #: Also keep every epoch's weights (``epochs/NN.weights.h5``), so a stage can be chosen on
    #: val and on the whole-path development set, not only on val accuracy.
    save_every_epoch: bool = False

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls(**json.loads(text))


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Per-class loss weights ∝ frequency^-power, normalised to a mean of 1 over samples."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    w /= (w[labels]).mean()
    return w.astype(np.float32)


def _log(msg: str) -> None:
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_splits(cfg: TrainConfig) -> tuple[Any, Any]:
    from training.data import load_any

    cache = Path(cfg.run_dir).parent / "cache"
    train = load_any(cfg.data, "train", cache_dir=cache)
    val = load_any(cfg.data, "val", cache_dir=cache)
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"{cfg.data}: need non-empty train and val splits")
    return train, val


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the path of the best weights."""
    import keras
    import tensorflow as tf

    from model.architectures import build
    from model.classifier import best_policy
    from model.preprocess import center_crop
    from training.augment import RECIPES

    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    cfg_file = run / "config.json"
    if cfg_file.exists():
        saved = TrainConfig.from_json(cfg_file.read_text())
        # A resumed run keeps its recipe; only the epoch budget may grow (the cosine schedule
        # is then stretched over the new total from the step where the run stopped).
        if asdict(saved) != {**asdict(cfg), "epochs": saved.epochs}:
            _log(f"resuming {run} with its saved config (other command-line differences ignored)")
        cfg = TrainConfig(**{**asdict(saved), "epochs": cfg.epochs})
    cfg_file.write_text(json.dumps(asdict(cfg), indent=2) + "\n")

    policy = best_policy() if cfg.precision == "auto" else cfg.precision
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(cfg.seed)

    train_split, val_split = load_splits(cfg)
    _log(f"train {len(train_split)} images, val {len(val_split)}; policy {policy}")
    weights = class_weights(train_split.labels, cfg.class_weight_power)
    _log("class weights " + ", ".join(f"{n}={w:.2f}" for n, w in zip(LABELS, weights, strict=True)))

    x_train = train_split.images[..., None].astype(np.float32)
    x_alt = x_train
    if cfg.recrop:
        with np.load(cfg.recrop) as z:
            if tuple(z["paths"].tolist()) != tuple(train_split.paths):
                raise ValueError(f"{cfg.recrop}: its faces are not train/'s, in train/'s order")
            x_alt = z["images"][..., None].astype(np.float32)
        _log(f"re-cut faces from {cfg.recrop}, used with probability {cfg.recrop_prob}")
    if cfg.augment not in RECIPES:
        raise ValueError(f"unknown augmentation {cfg.augment!r}; choose one of {', '.join(RECIPES)}")
    augment: Any = RECIPES[cfg.augment]
    p_alt = cfg.recrop_prob if cfg.recrop else 0.0

    def pick(x: Any, alt: Any, y: Any, w: Any) -> tuple[Any, Any, Any]:
        use = tf.random.uniform(tf.shape(x)[:1]) < p_alt
        return tf.where(use[:, None, None, None], alt, x), y, w
    y_train = keras.utils.to_categorical(train_split.labels, NUM_CLASSES).astype(np.float32)
    w_train = weights[train_split.labels]
    x_val = center_crop(val_split.images)
    y_val = keras.utils.to_categorical(val_split.labels, NUM_CLASSES).astype(np.float32)

    ds = (
        tf.data.Dataset.from_tensor_slices((x_train, x_alt, y_train, w_train))
        .shuffle(len(x_train), seed=cfg.seed, reshuffle_each_iteration=True)
        .batch(cfg.batch_size, drop_remainder=True)
        .map(pick, num_parallel_calls=tf.data.AUTOTUNE)
        .map(lambda x, y, w: (augment(x), y, w), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    steps = len(x_train) // cfg.batch_size
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
        ds = ds.take(steps)
    val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256)

    total = steps * cfg.epochs
    warm = int(steps * cfg.warmup_epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.peak_lr / 100, decay_steps=max(1, total - warm),
        warmup_target=cfg.peak_lr, warmup_steps=warm, alpha=0.01,
    )
    model = build(cfg.architecture, **cfg.hparams)
    if cfg.init_weights:
        init = Path(cfg.init_weights)
        if init.is_dir():
            init = init / "best.weights.h5"
        if not init.exists():
            raise FileNotFoundError(f"init_weights {cfg.init_weights}: no such weights file or run")
        # BackupAndRestore (below) overrides these when the stage itself is being resumed.
        model.load_weights(str(init))
        _log(f"starting from {init}")
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )
    _log(f"{cfg.architecture} {cfg.hparams}: {model.count_params():,} parameters, "
         f"{cfg.epochs} epochs x {steps} steps")
    best = run / "best.weights.h5"
    callbacks = [
        # Keep the backup after a finished run so `--epochs` can extend it later.
        keras.callbacks.BackupAndRestore(str(run / "backup"), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_accuracy", mode="max",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=cfg.patience),
    ]
    if cfg.save_every_epoch:
        (run / "epochs").mkdir(exist_ok=True)
        callbacks.append(keras.callbacks.ModelCheckpoint(str(run / "epochs" / "{epoch:02d}.weights.h5"),
                                                         save_weights_only=True))
    model.fit(ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks,
              verbose=1 if sys.stderr.isatty() else 2)
    (run / "DONE").write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    return best


def export(run_dir: str | Path, out_dir: str | Path, tta: str = "flip", weights: str | Path | None = None,
           version: str = "") -> Path:
    """Write the run's best weights (or the given epoch's) as a model folder, with val metrics
    and the temperature and "uncertain" threshold fitted on val (`training.calibrate`)."""
    import keras

    from model.architectures import build
    from model.bundle import ModelMeta, save
    from model.classifier import EmotionClassifier
    from training.calibrate import calibrate
    from training.metrics import summarize

    run = Path(run_dir)
    cfg = TrainConfig.from_json((run / "config.json").read_text())
    best = Path(weights) if weights is not None else run / "best.weights.h5"
    if not best.exists():
        raise FileNotFoundError(f"{best}: no such weights (no epoch finished yet?)")
    keras.mixed_precision.set_global_policy("float32")
    model = build(cfg.architecture, **cfg.hparams)
    model.load_weights(str(best))
    stages = stage_chain(run)
    earlier = [{**asdict(c), "epochs_completed": len(_history(folder))} for folder, c in stages[:-1]]
    meta = ModelMeta(
        architecture=cfg.architecture, hparams=cfg.hparams, tta=tta,
        training={**asdict(cfg), "epochs_completed": len(_history(run)), "finished": (run / "DONE").exists(),
                  "weights": best.name if weights is None else str(weights),
                  **({"previous_stages": earlier} if earlier else {})},
        version=version,
    )
    save(model, meta, out_dir)
    _, val = load_splits(cfg)
    clf = EmotionClassifier.load(out_dir)
    probs = clf.predict(val.images)
    metrics = summarize(val.labels, probs.argmax(axis=1))
    val_metrics = {k: metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "n")}
    calibration = calibrate(probs, val.labels, fitted_on="FER-2013 val (PublicTest), flip TTA")
    meta = dataclasses.replace(meta, metrics={"val": val_metrics}, calibration=calibration.to_dict())
    save(model, meta, out_dir)
    # The training curves travel with the model (`classpulse evaluate` plots them): every
    # stage's epochs in order, with a `stage` column marking where a fine-tuning stage began.
    rows = [{**r, "stage": str(i + 1)} for i, (folder, _) in enumerate(stages) for r in _history(folder)]
    if rows:
        with (Path(out_dir) / "history.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return Path(out_dir)


def _history(run: Path) -> list[dict[str, str]]:
    hist = run / "history.csv"
    if not hist.exists():
        return []
    with hist.open(newline="") as fh:
        return list(csv.DictReader(fh))


def stage_chain(run_dir: str | Path) -> list[tuple[Path, TrainConfig]]:
    """The run folders and configs from the first stage to this run, following `init_weights`
    back through run folders (a weights file outside a run folder ends the chain). The folders
    are the ones found on disk, so a chain still reads its histories after a move."""
    chain: list[tuple[Path, TrainConfig]] = []
    run: Path | None = Path(run_dir)
    while run is not None and (run / "config.json").exists() and len(chain) < 20:
        cfg = TrainConfig.from_json((run / "config.json").read_text())
        chain.append((run, cfg))
        init = Path(cfg.init_weights) if cfg.init_weights else None
        run = init if init is not None and init.is_dir() else None
    return chain[::-1]
