"""Whole-path evaluation (`classpulse evaluate --frames`): scoring rules and the real path.

The scoring tests use generated photos with a scripted detector and classifier, so the
figures they check follow from the rules (a missed face is wrong, `n` counts images, the
largest face answers) and not from a model. The last test runs the committed model on a few
files of the shared development set; it skips when the set is absent, except under CI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.detect import Detection
from analysis.pipeline import Analyzer, Settings
from model.labels import LABELS
from training.data import DataError
from training.evaluate_frames import NO_FACE, evaluate_frames, list_images

DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "expressions-dev"


class BrightnessDetector:
    """One face per bright rectangle: 0 faces for a dark photo, 2 for a photo with two patches."""

    name = "scripted"

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        mask = (frame_bgr[:, :, 0] > 200).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        return [Detection(box=tuple(int(v) for v in stats[i, :4]), score=0.99)  # type: ignore[arg-type]
                for i in range(1, n)]


class GrayLevelClassifier:
    """Reads the label from the grey level at the patch centre (the test writes it into the photo)."""

    def predict(self, patches: np.ndarray) -> np.ndarray:
        out = np.full((len(patches), 7), 0.01, np.float32)
        for i, p in enumerate(patches):
            out[i, round((float(p[24, 24]) - 205) / 7) % 7] = 0.94
        return out


def photo(path: Path, faces: list[tuple[int, int, int, int, int]]) -> None:
    """A dark photo with one bright rectangle (x, y, w, h, label) per face."""
    img = np.full((120, 160, 3), 30, np.uint8)
    img += np.random.default_rng(len(faces)).integers(0, 20, img.shape, dtype=np.uint8)
    for x, y, w, h, label in faces:
        img[y : y + h, x : x + w] = 205 + 7 * label
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def test_missed_faces_count_as_wrong_and_the_largest_face_answers(tmp_path: Path) -> None:
    happy, sad, angry = LABELS.index("happy"), LABELS.index("sad"), LABELS.index("angry")
    photo(tmp_path / "happy" / "a.png", [(20, 20, 60, 60, happy)])
    photo(tmp_path / "happy" / "b.png", [])  # no face: wrong
    # Two faces: the larger one (read as sad) answers, the small happy one is ignored.
    photo(tmp_path / "sad" / "c.png", [(5, 5, 20, 20, happy), (70, 30, 70, 70, sad)])
    photo(tmp_path / "angry" / "d.png", [(40, 30, 50, 50, sad)])  # read wrong
    analyzer = Analyzer(Settings(landmarks=False), detector=BrightnessDetector(),
                        classifier=GrayLevelClassifier())
    m, results = evaluate_frames(tmp_path, Settings(landmarks=False), analyzer=analyzer)
    assert m["n"] == 4
    assert m["detection_rate"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["accuracy_on_detected"] == pytest.approx(2 / 3)
    assert m["per_class"]["happy"]["recall"] == pytest.approx(0.5)
    assert m["per_class"]["sad"]["recall"] == pytest.approx(1.0)
    assert m["per_class"]["angry"]["recall"] == pytest.approx(0.0)
    assert m["balanced_accuracy"] == pytest.approx(0.5)  # mean over the three true classes
    assert m["predicted_distribution"][NO_FACE] == 1
    assert m["predicted_distribution"]["sad"] == 2
    assert m["images_with_several_faces"] == 1
    assert m["confusion_matrix"][angry][sad] == 1
    assert m["confusion_matrix"][happy][len(LABELS)] == 1  # the "no face" column
    several = next(r for r in results if len(r.faces) == 2)
    sizes = [f["box"][2] * f["box"][3] for f in several.faces]
    assert sizes == sorted(sizes, reverse=True)
    assert all("emotion" in f and "probabilities" in f for r in results for f in r.faces)
    json.dumps(m)  # the --json document is plain JSON


def test_bad_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        list_images(tmp_path / "missing")
    (tmp_path / "joy").mkdir()
    with pytest.raises(DataError, match="unknown emotion label 'joy'"):
        list_images(tmp_path)


def test_unreadable_photo_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "x.jpg").write_bytes(b"not a jpeg")
    analyzer = Analyzer(Settings(landmarks=False), detector=BrightnessDetector(),
                        classifier=GrayLevelClassifier())
    with pytest.raises(DataError, match=r"x\.jpg: unreadable image"):
        evaluate_frames(tmp_path, Settings(landmarks=False), analyzer=analyzer)


@pytest.mark.slow  # the real model: loads TensorFlow
def test_cli_frames_on_a_few_dev_photos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real detector and committed model on 3 photos per label of the shared dev set."""
    if not DEV.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the development set is required under CI: {DEV}")
        pytest.skip(f"expressions-dev not found at {DEV}")
    for sub in sorted(p for p in DEV.iterdir() if p.is_dir()):
        (tmp_path / sub.name).mkdir()
        for f in sorted(sub.iterdir())[:3]:
            (tmp_path / sub.name / f.name).symlink_to(f)
    from bot.cli.main import main

    assert main(["evaluate", "--frames", "--data", str(tmp_path), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 21
    assert m["detection_rate"] >= 0.8
    assert sum(m["predicted_distribution"].values()) == 21
    assert 0.0 <= m["accuracy"] <= m["detection_rate"]
