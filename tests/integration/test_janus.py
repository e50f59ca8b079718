"""The Janus connector against a real Janus (Debian's package) in a private network namespace.

The fixture starts Janus with the project's own config folder (tests/integration/janus/:
VideoRoom room 1234 with PIN "letmein", HTTP API on 127.0.0.1:8088 inside the namespace)
and stops it afterwards. Students are aiortc publishers playing real clips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.netns import Netns

HERE = Path(__file__).parent
CASE = str(HERE / "janus_case.py")


def run_case(ns: Netns, *args: str) -> dict[str, Any]:
    res = ns.python(CASE, *args, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.integration
def test_a_class_in_a_janus_room(janus: Netns, videos_dir: Path) -> None:
    clips = [str(p) for p in sorted(videos_dir.glob("*.mp4"))[:3]]
    out = run_case(janus, "class", *clips)
    assert out["state"] == "done" and out["leave_reason"] == "requested", out
    counts, first, last = out["counts"], out["first_t"], out["last_t"]
    assert sorted(counts) == ["Ada", "Ben", "Cam", "Dan"], "display names come from Janus"
    assert set(counts["Dan"]) == {"camera_off"} and counts["Dan"]["camera_off"] >= 5
    for name in ("Ada", "Ben", "Cam"):
        assert counts[name].get("absent", 0) >= 4 and "camera_off" not in counts[name], counts
    assert last["Ben"] < last["Ada"] - 2, "Ben left early"
    assert first["Cam"] > first["Ada"] + 2, "Cam came late"
    assert out["frames"] > 80
    assert "letmein" not in out["source"], "no secret in what reports show"


@pytest.mark.integration
def test_refused_joins_fail_with_their_reason(janus: Netns) -> None:
    out = run_case(janus, "refused")
    assert out["wrong_pin"]["state"] == "failed" and out["wrong_pin"]["failure"] == "wrong_secret"
    assert "433" in out["wrong_pin"]["detail"]
    assert out["no_room"]["failure"] == "meeting_not_found" and "999" in out["no_room"]["detail"]
    assert out["nothing_there"]["failure"] == "meeting_not_found"
    assert out["sessions_stored"] == 0


@pytest.mark.integration
def test_the_bot_leaves_an_empty_room_by_itself(janus: Netns, videos_dir: Path) -> None:
    clip = str(sorted(videos_dir.glob("*.mp4"))[0])
    out = run_case(janus, "--seconds", "5", "empty", clip)
    assert out["state"] == "done" and out["leave_reason"] == "empty", out
    assert out["video_samples"] >= 3, "Ada was sampled before she left"
    assert 2.5 <= out["left_after_s"] <= 12, "empty_timeout_s is 3 s: not before, not long after"
