"""Temperature scaling, ECE and the uncertain threshold (`training.calibrate`), and the
classifier applying a model's fitted temperature."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import apply_temperature, calibrate, coverage_curve, ece, fit_temperature, fit_threshold


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def overconfident(n: int = 6000, t: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) (calibrated), shown as softmax(t·z) (overconfident by t)."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, (n, 7))
    labels = np.array([rng.choice(7, p=p) for p in softmax(z)])
    return softmax(t * z), labels


def test_fit_temperature_recovers_the_overconfidence() -> None:
    probs, labels = overconfident(t=2.0)
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(2.0, rel=0.1)
    assert ece(apply_temperature(probs, t), labels) < ece(probs, labels) / 2


def test_temperature_keeps_the_winner_and_one_is_identity() -> None:
    probs, _ = overconfident(n=200)
    assert (apply_temperature(probs, 3.0).argmax(1) == probs.argmax(1)).all()
    assert np.allclose(apply_temperature(probs, 1.0), probs, atol=1e-6)


def test_threshold_flags_readings_more_likely_wrong_than_right() -> None:
    # Confidence c is right with probability c: the Bayes threshold is 0.5.
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.15, 1.0, 20000)
    correct = rng.uniform(size=conf.size) < conf
    probs = np.full((conf.size, 7), 0.0)
    probs[:, 0] = conf
    probs[:, 1:] = ((1 - conf) / 6)[:, None]
    labels = np.where(correct, 0, 1)
    assert fit_threshold(probs, labels) == pytest.approx(0.5, abs=0.04)
    curve = coverage_curve(probs, labels, thresholds=(0.0, 0.5, 0.8))
    assert curve[0]["coverage"] == 1.0
    assert curve[0]["accuracy"] < curve[1]["accuracy"] < curve[2]["accuracy"]


def test_calibrate_reports_before_and_after() -> None:
    probs, labels = overconfident(t=1.8)
    cal = calibrate(probs, labels, fitted_on="synthetic")
    d = cal.to_dict()
    assert d["ece_after"] < d["ece_before"] and d["nll_after"] < d["nll_before"]
    assert 0.2 <= d["uncertain_below"] <= 0.9


@pytest.mark.slow
def test_classifier_applies_the_models_temperature() -> None:
    import dataclasses

    import keras

    from model.architectures import build
    from model.bundle import ModelMeta
    from model.classifier import EmotionClassifier

    keras.utils.set_random_seed(3)
    net = build("vgg", widths=[8, 8, 16, 16], dense=16)
    meta = ModelMeta("vgg", {"widths": [8, 8, 16, 16], "dense": 16}, tta="flip")
    patches = np.random.default_rng(2).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    raw = EmotionClassifier(net, meta).predict(patches)
    hot = EmotionClassifier(net, dataclasses.replace(meta, calibration={"temperature": 0.5,
                                                                         "uncertain_below": 0.4}))
    assert np.allclose(hot.predict(patches), apply_temperature(raw, 0.5), atol=1e-5)
    assert hot.uncertain_below == 0.4
