"""Model contract: architectures build, save → load gives identical predictions, training resumes."""

import json
from pathlib import Path

import numpy as np
import pytest

from model.labels import LABELS

pytestmark = pytest.mark.slow  # imports TensorFlow (seconds)


def _fake_dataset(root: Path, per_class: int = 6) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for i, label in enumerate(LABELS):
            d = root / split / label
            d.mkdir(parents=True)
            for k in range(per_class):
                img = rng.integers(0, 60, (48, 48), dtype=np.uint8) + i * 25  # class-dependent brightness
                cv2.imwrite(str(d / f"{k}.png"), img)
    return root


@pytest.mark.parametrize("name", ["cnn4", "vgg"])
def test_architectures_build_and_output_probabilities(name: str) -> None:
    from model.architectures import build

    model = build(name)
    out = np.asarray(model(np.zeros((2, 44, 44, 1), np.float32)))
    assert out.shape == (2, len(LABELS))
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_unknown_architecture_is_refused() -> None:
    from model.architectures import build

    with pytest.raises(ValueError, match="unknown architecture 'resnet9000'"):
        build("resnet9000")
    with pytest.raises(ValueError, match="bad hyper-parameters"):
        build("vgg", depth=3)


def test_save_load_identical_predictions(tmp_path: Path) -> None:
    import keras

    from model.architectures import build
    from model.bundle import ModelMeta, save
    from model.classifier import EmotionClassifier

    keras.utils.set_random_seed(3)
    model = build("vgg", widths=[8, 8, 16, 16], dense=16)
    save(model, ModelMeta("vgg", {"widths": [8, 8, 16, 16], "dense": 16}, tta="flip"), tmp_path / "m")
    patches = np.random.default_rng(1).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    a = EmotionClassifier(model, ModelMeta("vgg", {}, tta="flip")).predict(patches)
    b = EmotionClassifier.load(tmp_path / "m", policy="float32").predict(patches)
    assert np.allclose(a, b, atol=1e-6)
    assert np.allclose(b.sum(axis=1), 1.0, atol=1e-5)


def test_load_refuses_foreign_labels(tmp_path: Path) -> None:
    from model.bundle import ModelError, load

    (tmp_path / "meta.json").write_text('{"architecture": "vgg", "hparams": {}, "labels": ["a", "b"]}')
    with pytest.raises(ModelError, match="differ"):
        load(tmp_path)
    with pytest.raises(ModelError, match=r"no meta\.json"):
        load(tmp_path / "nothing")


def test_training_smoke_resume_and_export(tmp_path: Path) -> None:
    from model.classifier import EmotionClassifier
    from training.train import TrainConfig, export, train

    data = _fake_dataset(tmp_path / "data")
    cfg = TrainConfig(data=str(data), run_dir=str(tmp_path / "runs" / "r"), architecture="vgg",
                      hparams={"widths": [8, 8, 16, 16], "dense": 16}, epochs=2, batch_size=8,
                      max_steps_per_epoch=3, precision="float32")
    train(cfg)
    history = (tmp_path / "runs" / "r" / "history.csv").read_text().strip().splitlines()
    assert len(history) == 3  # header + 2 epochs
    # A resumed run with more epochs continues from epoch 3, it does not start over.
    train(TrainConfig(**{**cfg.__dict__, "epochs": 3}))
    history = (tmp_path / "runs" / "r" / "history.csv").read_text().strip().splitlines()
    assert len(history) == 4
    out = export(tmp_path / "runs" / "r", tmp_path / "model")
    clf = EmotionClassifier.load(out, policy="float32")
    assert clf.meta.metrics["val"]["n"] == 7 * 6
    assert clf.predict(np.zeros((3, 48, 48), np.uint8)).shape == (3, 7)


def test_fine_tuning_stage_starts_from_the_first_stage_weights(tmp_path: Path) -> None:
    import keras

    from model.architectures import build
    from training.train import TrainConfig, export, train

    data = _fake_dataset(tmp_path / "data")
    hp = {"widths": [8, 8, 16, 16], "dense": 16}
    base = TrainConfig(data=str(data), run_dir=str(tmp_path / "runs" / "a"), architecture="vgg",
                       hparams=hp, epochs=1, batch_size=8, max_steps_per_epoch=2, precision="float32")
    train(base)
    # A near-zero learning rate: the second stage's kernels must be the first stage's.
    stage2 = TrainConfig(**{**base.__dict__, "run_dir": str(tmp_path / "runs" / "b"), "peak_lr": 1e-12,
                            "init_weights": str(tmp_path / "runs" / "a"), "seed": 7})
    train(stage2)

    def first_kernel(run: str) -> np.ndarray:
        keras.mixed_precision.set_global_policy("float32")
        model = build("vgg", **hp)
        model.load_weights(str(tmp_path / "runs" / run / "best.weights.h5"))
        return np.asarray(next(w for w in model.weights if "kernel" in w.path))

    np.testing.assert_allclose(first_kernel("b"), first_kernel("a"), atol=1e-6)
    # The exported model records both stages and carries both stages' curves.
    meta = json.loads((export(tmp_path / "runs" / "b", tmp_path / "model") / "meta.json").read_text())
    assert meta["training"]["init_weights"] == str(tmp_path / "runs" / "a")
    assert [st["run_dir"] for st in meta["training"]["previous_stages"]] == [str(tmp_path / "runs" / "a")]
    history = (tmp_path / "model" / "history.csv").read_text().strip().splitlines()
    assert history[0].endswith(",stage") and [r.split(",")[-1] for r in history[1:]] == ["1", "2"]
    with pytest.raises(FileNotFoundError, match="init_weights"):
        train(TrainConfig(**{**stage2.__dict__, "run_dir": str(tmp_path / "runs" / "c"),
                             "init_weights": str(tmp_path / "missing")}))


def test_ensemble_averages_members_in_one_call(tmp_path: Path) -> None:
    import keras

    from model.architectures import build
    from model.bundle import ModelError, ModelMeta, save
    from model.classifier import EmotionClassifier
    from training.ensemble import make_ensemble

    dirs = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        hp = {"widths": [4, 4, 8, 8], "dense": 8}
        save(build("vgg", **hp), ModelMeta("vgg", hp, tta="none"), tmp_path / f"m{seed}")
        dirs.append(tmp_path / f"m{seed}")
    make_ensemble(dirs, tmp_path / "ens", tta="none")
    x = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    a = EmotionClassifier.load(dirs[0], policy="float32").predict(x)
    b = EmotionClassifier.load(dirs[1], policy="float32").predict(x)
    ens = EmotionClassifier.load(tmp_path / "ens", policy="float32").predict(x)
    assert np.allclose(ens, (a + b) / 2, atol=1e-5)
    assert not np.allclose(a, b, atol=1e-3)  # the members really differ
    with pytest.raises(ModelError, match="at least two"):
        make_ensemble(dirs[:1], tmp_path / "one")


def test_path_recipe_with_recut_faces_trains_keeps_epochs_and_exports_calibrated(tmp_path: Path) -> None:
    from model.bundle import model_version
    from model.classifier import EmotionClassifier
    from training.data import load_any
    from training.train import TrainConfig, export, train

    data = _fake_dataset(tmp_path / "data")
    split = load_any(data, "train")
    recut = tmp_path / "recut.npz"
    np.savez(recut, images=255 - split.images, labels=split.labels, paths=np.array(split.paths))
    cfg = TrainConfig(data=str(data), run_dir=str(tmp_path / "runs" / "p"), architecture="vgg",
                      hparams={"widths": [8, 8, 16, 16], "dense": 16}, epochs=2, batch_size=8,
                      max_steps_per_epoch=2, precision="float32", augment="path", recrop=str(recut),
                      save_every_epoch=True)
    train(cfg)
    kept = sorted(p.name for p in (tmp_path / "runs" / "p" / "epochs").iterdir())
    assert kept == ["01.weights.h5", "02.weights.h5"]
    out = export(tmp_path / "runs" / "p", tmp_path / "model", weights=tmp_path / "runs" / "p" / "epochs" / kept[0],
                 version="smoke")
    clf = EmotionClassifier.load(out, policy="float32")
    assert clf.meta.calibration["temperature"] > 0
    assert 0.2 <= clf.meta.calibration["uncertain_below"] <= 0.9
    assert clf.version == model_version(out) and clf.version.startswith("smoke@")
    # Re-cut faces must be train/'s faces in train/'s order.
    np.savez(recut, images=split.images[::-1], labels=split.labels[::-1], paths=np.array(split.paths[::-1]))
    with pytest.raises(ValueError, match="not train/'s"):
        train(TrainConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "runs" / "q")}))


def test_path_augmentation_keeps_shape_and_range() -> None:
    import tensorflow as tf

    from training.augment import augment_path

    x = tf.constant(np.random.default_rng(0).integers(0, 256, (16, 48, 48, 1)).astype(np.float32))
    y = augment_path(x).numpy()
    assert y.shape == (16, 44, 44, 1)
    assert y.min() >= 0.0 and y.max() <= 255.0
    centre = x.numpy()[:, 2:46, 2:46]
    assert np.abs(y - centre).mean() > 5  # it changes the faces
