"""The sentences reports use for aggregate findings: levels and numbers, never verdicts.

Kept apart from the numbers so wording can be reviewed (and translated) in one place.
"""

from __future__ import annotations

from analysis.classwide import MomentKind
from analysis.concerns import Reason
from reports import format as fmt

MOMENT_TEXT: dict[MomentKind, str] = {
    "looked_away": "Many students looked away from the screen or left the camera",
    "negative": "Many students showed negative facial expressions",
}


def reason_text(r: Reason) -> str:
    """One reason a student may need attention, as a level followed by the number behind it."""
    if r.signal == "attention":
        return f"Attention {r.level}: looking at the screen in {fmt.pct(r.value)} of readable samples"
    if r.signal == "absence" and r.level == "frequent":
        return f"Absence {r.level}: no face on camera in {fmt.pct(r.value)} of camera-on time"
    if r.signal == "absence":
        return f"Absence {r.level}: no face on camera for {fmt.duration(r.value)} at a stretch"
    if r.signal == "negative_affect":
        return (f"Negative expression readings {r.level}: {fmt.pct(r.value)} on average "
                "(angry, disgusted, fearful or sad)")
    return f"Engagement {r.level} than at their own start: {fmt.signed_points(r.value)} points"
