"""The built-in classroom with real WebRTC: aiortc students publish real clips over WHIP.

Runs server, session and students in a private network namespace (real ICE needs a
non-loopback address). Ada stays, Ben leaves early, Cam comes late, a malformed offer
is refused in between.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.netns import Netns

CASE = str(Path(__file__).with_name("classroom_case.py"))


def run_case(netns: Netns, videos_dir: Path, *extra: str) -> dict[str, Any]:
    clips = [str(p) for p in sorted(videos_dir.glob("*.mp4"))[:3]]
    res = netns.python(CASE, *extra, *clips, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def check_class(out: dict[str, Any]) -> None:
    assert out["state"] == "done" and out["leave_reason"] == "requested", out
    assert out["malformed_status"] == 400 and out["ben_delete_status"] == 200
    counts, first, last = out["counts"], out["first_t"], out["last_t"]
    assert sorted(counts) == ["Ada", "Ben", "Cam"]
    video = {n: sum(v for k, v in c.items() if k != "camera_off") for n, c in counts.items()}
    assert all(v >= 3 for v in video.values()), counts
    assert last["Ben"] < last["Ada"] - 1.0, "Ben left early"
    assert first["Cam"] > first["Ada"] + 1.0, "Cam came late"
    assert out["frames"] > 50


@pytest.mark.integration
def test_three_students_over_whip(netns: Netns, videos_dir: Path) -> None:
    out = run_case(netns, videos_dir)
    check_class(out)
    assert out["dropped"] == 0


@pytest.mark.integration
@pytest.mark.slow
def test_three_students_over_whip_with_the_real_analyser(netns: Netns, videos_dir: Path) -> None:
    out = run_case(netns, videos_dir, "--real")
    check_class(out)
    seen = sum(sum(c.values()) - c.get("camera_off", 0) for c in out["counts"].values())
    assert out["present"] >= 0.8 * seen, out["counts"]
