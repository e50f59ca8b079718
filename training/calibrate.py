"""Calibrated confidence: temperature scaling and the "uncertain" threshold, fitted on val.

A network trained with label smoothing and class weights gives probabilities that are not
frequencies: a 0.6 does not mean "right 60 % of the time". Temperature scaling (Guo et al.
2017) fixes that with one number T fitted on held-out data: p_T ∝ p^(1/T), i.e. the softmax
of log p / T (the network ends in a softmax and flip TTA averages probabilities, so the
scaling is applied to the final averaged probabilities). It never changes which label wins,
so accuracy is untouched; only confidence moves.

The "uncertain" flag then has a meaning: a reading is flagged when its calibrated confidence
is below the threshold at which, on FER-2013 val, readings are wrong more often than right
(`fit_threshold`). Both numbers are fitted on val only, never on the development set or test.
Everything here is pure numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T), renormalised per row (the softmax of log p / T)."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(-np.log(p).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The T minimising the negative log-likelihood on (probs, labels): golden-section search
    on log T (the NLL is unimodal in T)."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(60):
        if nll(apply_temperature(probs, np.exp(c)), labels) < nll(apply_temperature(probs, np.exp(d)), labels):
            b = d
        else:
            a = c
        c, d = b - g * (b - a), a + g * (b - a)
    return float(np.exp((a + b) / 2))


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: |accuracy − confidence| averaged over equal-width
    confidence bins, weighted by the share of readings in each bin."""
    conf = np.asarray(probs).max(axis=1)
    correct = np.asarray(probs).argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def fit_threshold(probs: np.ndarray, labels: np.ndarray, grid: np.ndarray | None = None) -> float:
    """Confidence below which a reading is flagged uncertain: the threshold that best separates
    right from wrong readings (flag = predicted wrong), i.e. where they become more likely
    wrong than right."""
    conf = np.asarray(probs).max(axis=1)
    correct = np.asarray(probs).argmax(axis=1) == labels
    grid = np.round(np.arange(0.2, 0.9, 0.01), 2) if grid is None else grid
    mistakes = [int(((conf < t) & correct).sum() + ((conf >= t) & ~correct).sum()) for t in grid]
    return float(grid[int(np.argmin(mistakes))])


def coverage_curve(probs: np.ndarray, labels: np.ndarray,
                   thresholds: tuple[float, ...] = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
                   ) -> list[dict[str, float]]:
    """For each threshold: the share of readings kept (confidence ≥ threshold) and their accuracy."""
    conf = np.asarray(probs).max(axis=1)
    correct = np.asarray(probs).argmax(axis=1) == labels
    rows = []
    for t in thresholds:
        keep = conf >= t
        rows.append({"threshold": t, "coverage": round(float(keep.mean()), 4),
                     "accuracy": round(float(correct[keep].mean()), 4) if keep.any() else float("nan")})
    return rows


@dataclass(frozen=True)
class Calibration:
    temperature: float
    uncertain_below: float  # calibrated confidence under which a reading is "uncertain"
    fitted_on: str
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def calibrate(probs: np.ndarray, labels: np.ndarray, fitted_on: str) -> Calibration:
    t = fit_temperature(probs, labels)
    cal = apply_temperature(probs, t)
    return Calibration(temperature=t, uncertain_below=fit_threshold(cal, labels), fitted_on=fitted_on,
                       ece_before=ece(probs, labels), ece_after=ece(cal, labels),
                       nll_before=nll(probs, labels), nll_after=nll(cal, labels))


def main(argv: list[str] | None = None) -> int:
    """``python -m training.calibrate [--model DIR] [--data FER] [--write]``: fit on val, print the
    before/after figures and coverage curves; `--write` stores the calibration in meta.json."""
    import argparse
    import dataclasses
    import json
    from pathlib import Path

    from model.bundle import DEFAULT_MODEL_DIR, META_FILE, read_meta
    from model.classifier import EmotionClassifier
    from training.data import load_any

    ap = argparse.ArgumentParser(prog="python -m training.calibrate", description=main.__doc__)
    ap.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    ap.add_argument("--data", default="../shared/datasets/fer2013")
    ap.add_argument("--cache", default="../classpulse-runs/cache")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--version", help="with --write: also set meta.json's version name")
    ap.add_argument("--dev-cache", help="dev patches (.npz from training.choose): also report ECE there "
                    "(never fitted on it)")
    args = ap.parse_args(argv)
    meta = read_meta(args.model)
    raw_meta = dataclasses.replace(meta, calibration={})
    nets = EmotionClassifier.load(args.model).models
    clf = EmotionClassifier(nets, raw_meta)  # uncalibrated outputs, whatever meta.json says
    val = load_any(args.data, "val", cache_dir=args.cache)
    probs = clf.predict(val.images)
    cal = calibrate(probs, val.labels, fitted_on="FER-2013 val (PublicTest), flip TTA")
    after = apply_temperature(probs, cal.temperature)
    out = {"calibration": cal.to_dict(), "coverage_before": coverage_curve(probs, val.labels),
           "coverage_after": coverage_curve(after, val.labels),
           "uncertain_share_val": round(float((after.max(1) < cal.uncertain_below).mean()), 4),
           "accuracy_of_certain_val": round(float((after.argmax(1) == val.labels)[after.max(1) >= cal.uncertain_below]
                                                  .mean()), 4)}
    if args.dev_cache:
        import numpy as np

        with np.load(args.dev_cache) as z:
            found = z["found"]
            dev_probs, dev_labels = clf.predict(z["images"][found]), z["labels"][found]
        dev_after = apply_temperature(dev_probs, cal.temperature)
        out["dev_detected_faces"] = {
            "n": int(found.sum()), "ece_before": round(ece(dev_probs, dev_labels), 4),
            "ece_after": round(ece(dev_after, dev_labels), 4),
            "uncertain_share": round(float((dev_after.max(1) < cal.uncertain_below).mean()), 4),
            "coverage_after": coverage_curve(dev_after, dev_labels)}
    print(json.dumps(out, indent=2))
    if args.write:
        data = json.loads((Path(args.model) / META_FILE).read_text())
        data["calibration"] = cal.to_dict()
        if args.version:
            data["version"] = args.version
        (Path(args.model) / META_FILE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
