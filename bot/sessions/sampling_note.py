"""What the report says about how a class was sampled: as configured, as it really ran.

A session records its configured sampling when it starts ("1 frame per student every
1 s"). Over capacity the sampler defers ticks and every student is sampled less often
(issue 15: degrade evenly and *say so*), and the platform may send less than asked (a
simulcast layer, a weak uplink). At the end of class the line is completed with both, so
a teacher reading "Samples" knows whether the figures rest on one frame a second or one
every three seconds, and at what quality the video arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the `sessions.sampling` column's width
MAX_CHARS = 200


def sampling_note(configured: str, slowed_to_s: float | None, received: Mapping[str, Any] | None) -> str:
    """`configured`, plus "slowed to … (over capacity)" and "video received …" when known."""
    parts = [configured]
    if slowed_to_s is not None:
        parts.append(f"over capacity: slowed to 1 frame per student every {slowed_to_s:.1f} s at the busiest")
    if received and received.get("students"):
        size, fps = received.get("size_median"), received.get("fps_median")
        quality = " at ".join(x for x in (size, f"{fps:g} fps" if fps is not None else None) if x)
        n = int(received["students"])
        if quality:
            parts.append(f"video received: {quality} ({'1 student' if n == 1 else f'median of {n} students'})")
    line = "; ".join(parts)
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"
