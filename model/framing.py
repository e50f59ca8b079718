"""How to cut a face out of a frame so it looks like a FER-2013 training face.

FER-2013 faces are square, roughly upright 48x48 crops framed brows-to-chin with a little
hair and cheek. Each detector frames a face differently (YuNet's boxes are tight and about
1.25x taller than wide, BlazeFace's square, Haar's square and loose), so stretching a box into
a square (what the first model did, with a guessed 10 % margin) squashes the face and frames it
unlike the training data.

A `Framing` says, per detector, where the FER-style square lies relative to what the detector
gives: its side in box widths, and its centre's offset from an anchor (the midpoint of the eyes
where the detector gives eye keypoints, else the box centre), in box widths, measured in the
face's upright frame. The numbers in `FRAMINGS` were fitted by `training/framing.py`: it runs
each detector on upscaled, padded FER-2013 training images, where the true FER square is known,
and takes the median of each ratio (the model card lists them with their spread).

`model.preprocess.face_crop` applies a framing; training, evaluation and the bot all call it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framing:
    """FER-2013 framing relative to one detector's output (all lengths in box widths)."""

    side: float  # side of the square crop
    dx: float  # crop centre minus anchor, along the eye line (to the image's right when upright)
    dy: float  # crop centre minus anchor, perpendicular to it (down when upright)
    anchor: str = "eyes"  # "eyes": midpoint of the two eye keypoints; "box": the box centre
    rotate: bool = True  # turn the crop upright along the eye line
    #: Largest roll (degrees) corrected; beyond it keypoints are more likely wrong than the head.
    max_roll_deg: float = 40.0

    def __post_init__(self) -> None:
        if self.side <= 0:
            raise ValueError(f"a framing needs a positive side, got {self.side}")
        if self.anchor not in ("eyes", "box"):
            raise ValueError(f"framing anchor must be 'eyes' or 'box', got {self.anchor!r}")


#: Fitted by `python -m training.framing measure --sample 2000` on FER-2013 train (medians;
#: the model card gives the interquartile ranges). dx is ~0 for all and kept at 0 (symmetry).
FRAMINGS: dict[str, Framing] = {
    "yunet": Framing(side=1.231, dx=0.0, dy=0.148),  # 1,668 of 2,000 faces detected
    "blazeface": Framing(side=1.178, dx=0.0, dy=0.122),  # 1,842 of 2,000
    "blazeface_full": Framing(side=1.192, dx=0.0, dy=0.116),  # 553 of 2,000 (made for small faces)
    "haar": Framing(side=1.055, dx=0.0, dy=0.003, anchor="box", rotate=False),  # 1,306 of 2,000
}
#: For a detector without a measured framing: the box centre, a square as wide as the box.
FALLBACK = Framing(side=1.2, dx=0.0, dy=0.0, anchor="box", rotate=False)


def framing_for(detector_name: str) -> Framing:
    return FRAMINGS.get(detector_name, FALLBACK)
