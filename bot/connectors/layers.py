"""Which simulcast layer to receive: the smallest one whose faces are still large enough.

A student who simulcasts sends the same camera two or three times at different sizes
(browsers scale each layer by half: e.g. 160x120, 320x240, 640x480). Every received
frame is decoded, and decoding cost follows the pixels (docs/bot.md, "Cost model"), so the
bot starts on a low layer and moves up only for a student whose face is too small there
for the analysis: the face mesh and the quality check want about `min_face_px` across,
and the emotion crop is 48 pixels. The rule judges the *received* face width, so it works
whatever the student's camera and distance:

- up one layer when the median face of the last `window` samples is narrower than
  `min_face_px`, or when no face was found in any of them (a face too small for the
  detector at this layer looks like nobody);
- down one layer when every one of the last `window` samples had a face that would still
  be `margin` times `min_face_px` at half the width (so a move down is not followed by a
  move back up: hysteresis);
- otherwise stay. After a move the history starts afresh: sizes from the old layer say
  nothing about the new one.

Pure and clock-free: `LayerChooser` keeps one student's recent sizes; the connector feeds
it and sends the platform's request when the answer changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median

from analysis.records import Observation, State


@dataclass(frozen=True)
class LayerRule:
    min_face_px: float = 120.0
    window: int = 5  # samples judged together (one per second at the default interval)
    top: int = 2  # the highest layer (Janus: substream 0, 1, 2)
    bottom: int = 0
    margin: float = 1.25  # a move down must leave faces at least this many times min_face_px
    scale: float = 2.0  # width ratio between neighbouring layers (browsers halve each)

    def __post_init__(self) -> None:
        if self.min_face_px <= 0:
            raise ValueError(f"min_face_px must be positive, got {self.min_face_px}")
        if self.window < 1:
            raise ValueError(f"window must be at least 1 sample, got {self.window}")
        if not 0 <= self.bottom <= self.top:
            raise ValueError(f"layers must satisfy 0 <= bottom <= top, got {self.bottom}..{self.top}")
        if self.margin < 1 or self.scale <= 1:
            raise ValueError("margin must be >= 1 and scale > 1")


def next_layer(layer: int, recent: Sequence[float | None], rule: LayerRule) -> int:
    """The layer to receive after `recent` face widths (None: no face found) on `layer`."""
    if len(recent) < rule.window:
        return layer
    last = list(recent)[-rule.window:]
    sizes = [s for s in last if s is not None]
    if not sizes:
        return min(layer + 1, rule.top)
    if median(sizes) < rule.min_face_px:
        return min(layer + 1, rule.top)
    smaller = min(sizes) / rule.scale
    if layer > rule.bottom and len(sizes) == len(last) and smaller >= rule.margin * rule.min_face_px:
        return layer - 1
    return layer


class LayerChooser:
    """One student's layer and recent face widths; `add` says when to ask for another layer."""

    def __init__(self, rule: LayerRule, layer: int) -> None:
        self.rule = rule
        self.layer = max(rule.bottom, min(layer, rule.top))
        self._recent: deque[float | None] = deque(maxlen=rule.window)

    def add(self, face_px: float | None) -> int | None:
        """Record one sample's face width; returns the new layer when it should change."""
        self._recent.append(face_px)
        wanted = next_layer(self.layer, self._recent, self.rule)
        if wanted == self.layer:
            return None
        self.layer = wanted
        self._recent.clear()
        return wanted


def face_widths(observations: Iterable[Observation], feed_of: Mapping[str, str]) -> dict[str, float | None]:
    """Main-face width per feed for `Connector.face_sizes`: present → the largest face's width,
    absent (video, no face) → None; other states say nothing about the layer and are left out."""
    out: dict[str, float | None] = {}
    for o in observations:
        feed = feed_of.get(o.participant_id)
        if feed is None:
            continue
        if o.state is State.PRESENT and o.primary is not None:
            out[feed] = float(o.primary.box[2])
        elif o.state is State.ABSENT:
            out[feed] = None
    return out
