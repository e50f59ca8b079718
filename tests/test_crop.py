"""The one FER-style crop (`model.preprocess.face_crop`) and the padded search (`analysis.faces`).

Synthetic frames with known geometry: two bright "eyes" on a tilted line, a circle that must
stay round, a fine grating that must not alias, a face that runs off the frame, and a detector
that only sees a face with room around it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from analysis.detect import LEFT_EYE, RIGHT_EYE, Detection
from analysis.faces import find_faces
from model.framing import FALLBACK, FRAMINGS, Framing, framing_for
from model.preprocess import crop_geometry, face_crop


def blobs(patch: np.ndarray) -> list[tuple[float, float]]:
    n, _, _, centres = cv2.connectedComponentsWithStats((patch > 128).astype(np.uint8))
    return sorted((float(c[0]), float(c[1])) for c in centres[1:n])


def eyes_frame(roll_deg: float) -> tuple[np.ndarray, tuple[int, int, int, int], dict[str, tuple[float, float]]]:
    """A 400x400 grey frame with two white eye dots 60 px apart around (200, 180), tilted."""
    img = np.full((400, 400, 3), 60, np.uint8)
    a = math.radians(roll_deg)
    right = (200 - 30 * math.cos(a), 180 - 30 * math.sin(a))  # subject's right eye: image left
    left = (200 + 30 * math.cos(a), 180 + 30 * math.sin(a))
    for x, y in (right, left):
        cv2.circle(img, (round(x), round(y)), 6, (255, 255, 255), -1)
    return img, (150, 140, 100, 125), {RIGHT_EYE: right, LEFT_EYE: left}


@pytest.mark.parametrize("roll", [-25.0, 0.0, 18.0])
def test_crop_turns_the_eye_line_level_and_frames_like_fer(roll: float) -> None:
    img, box, eyes = eyes_frame(roll)
    framing = Framing(side=1.2, dx=0.0, dy=0.15)
    patch = face_crop(img, box, eyes, framing)
    assert patch.shape == (48, 48) and patch.dtype == np.uint8
    (x1, y1), (x2, y2) = blobs(patch)
    assert abs(y1 - y2) < 0.8  # upright
    scale = 48 / (1.2 * 100)  # patch pixels per frame pixel
    assert x2 - x1 == pytest.approx(60 * scale, abs=0.8)
    # The eye midpoint sits dy box widths above the crop centre, midway across.
    assert (x1 + x2) / 2 == pytest.approx(23.5, abs=0.6)
    assert (y1 + y2) / 2 == pytest.approx(23.5 - 0.15 * 100 * scale, abs=0.6)


def test_a_tall_box_gives_a_square_undistorted_crop() -> None:
    img = np.full((300, 300, 3), 0, np.uint8)
    cv2.circle(img, (150, 150), 40, (255, 255, 255), -1)
    patch = face_crop(img, (110, 100, 80, 100), None, Framing(side=1.25, dx=0, dy=0, anchor="box", rotate=False))
    ys, xs = np.nonzero(patch > 128)
    assert (xs.max() - xs.min()) == pytest.approx(ys.max() - ys.min(), abs=1)  # still round
    assert (xs.max() - xs.min() + 1) == pytest.approx(80 * 48 / 100, abs=1.5)


def test_large_faces_are_area_averaged_not_aliased() -> None:
    grating = np.zeros((900, 900, 3), np.uint8)
    grating[:, ::2] = 255  # 1-pixel stripes: any point sampling aliases them
    patch = face_crop(grating, (50, 50, 800, 800), None, FALLBACK)
    assert abs(float(patch.mean()) - 127.5) < 6
    assert float(patch.std()) < 12


def test_a_face_running_off_the_frame_repeats_the_edge() -> None:
    img = np.full((100, 100, 3), 200, np.uint8)
    patch = face_crop(img, (-30, -20, 120, 150), None, FALLBACK)
    assert patch.shape == (48, 48)
    assert int(patch.min()) == 200


def test_without_eyes_an_eye_anchored_framing_centres_on_the_box() -> None:
    cx, cy, side, roll = crop_geometry((10, 20, 100, 120), None, FRAMINGS["yunet"])
    assert (cx, cy, roll) == (60.0, 80.0, 0.0)
    assert side == pytest.approx(FRAMINGS["yunet"].side * 100)


def test_framings_are_measured_per_detector() -> None:
    assert framing_for("yunet").anchor == "eyes" and framing_for("haar").anchor == "box"
    assert framing_for("something-new") is FALLBACK
    with pytest.raises(ValueError, match="positive side"):
        Framing(side=0, dx=0, dy=0)


class NeedsRoomDetector:
    """Finds the white square only when the frame has room around it (like real detectors)."""

    name = "needs-room"

    def __init__(self) -> None:
        self.frames: list[tuple[int, int]] = []

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.frames.append(frame.shape[:2])
        ys, xs = np.nonzero(frame[:, :, 0] == 255)
        if xs.min() == 0 or ys.min() == 0:  # face touches the frame edge: missed
            return []
        x, y = int(xs.min()), int(ys.min())
        w, h = int(xs.max()) - x + 1, int(ys.max()) - y + 1
        return [Detection((x, y, w, h), 0.9, ((RIGHT_EYE, (x + w * 0.3, y + h * 0.4)),))]


def test_a_face_filling_the_frame_is_found_inside_a_border() -> None:
    frame = np.full((60, 50, 3), 255, np.uint8)  # all face, smaller than the detector needs
    det = NeedsRoomDetector()
    found = find_faces(det, frame)
    assert len(det.frames) == 2 and max(det.frames[1]) >= 400  # searched again, bordered and enlarged
    assert len(found) == 1
    f = found[0]
    assert f.detection.box == (0, 0, 50, 60)
    assert f.crop_box == pytest.approx((0, 0, 50, 60), abs=1.0)  # within a pixel after the 4x resize
    assert f.detection.points[RIGHT_EYE] == pytest.approx((15.0, 24.0), abs=0.5)


def test_no_second_search_when_the_face_has_room() -> None:
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[50:120, 60:120] = 255
    det = NeedsRoomDetector()
    assert [f.detection.box for f in find_faces(det, frame)] == [(60, 50, 60, 70)]
    assert len(det.frames) == 1
