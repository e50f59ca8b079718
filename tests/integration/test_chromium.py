"""Real headless Chromium students (Debian's chromium, driven by Playwright): built-in classroom and Janus.

Chromium and the bot run in one private network namespace. Skipped cleanly when Chromium,
Playwright or the face clips are missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.chromium import missing, write_y4m
from tests.integration.netns import Netns

HERE = Path(__file__).parent


@pytest.fixture
def camera_y4m(videos_dir: Path, tmp_path: Path) -> Path:
    why = missing()
    if why:
        pytest.skip(why)
    clip = sorted(videos_dir.glob("*.mp4"))[0]
    return write_y4m(clip, tmp_path / "camera.y4m")


@pytest.mark.integration
@pytest.mark.slow
def test_chromium_student_joins_the_builtin_classroom(netns: Netns, camera_y4m: Path) -> None:
    res = netns.python(str(HERE / "chromium_case.py"), "--seconds", "6", str(camera_y4m), timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["state"] == "done", out
    assert "ClassPulse" in out["notice"], "the page shows who is watching"
    assert list(out["counts"]) == ["Zoë Chromium"], "the name typed on the page reaches the store"
    # The page publishes at classroom.publish_fps (5) at most: enough frames arrive, and no more than that.
    assert out["frames"] > 15, out
    assert out["frames"] <= 5 * 1.2 * out["progress"]["elapsed_s"] + 5, f"the page sends more than 5 fps: {out}"
    assert out["present"] >= 3, f"the analyser finds the face in the browser's camera: {out['counts']}"


@pytest.mark.integration
@pytest.mark.slow
def test_chromium_student_publishes_into_a_janus_room(janus: Netns, camera_y4m: Path) -> None:
    res = janus.python(str(HERE / "chromium_janus_case.py"), "--seconds", "6", str(camera_y4m), timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["state"] == "done", out
    assert list(out["counts"]) == ["Yusuf Chromium"], "the display name comes from Janus"
    assert out["frames"] > 30, out
    assert out["present"] >= 3, f"the analyser finds the face in the browser's camera: {out['counts']}"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("floor", "sizes"), [(200, ["320x240", "640x480"]), (60, ["320x240"])])
def test_bot_receives_the_smallest_simulcast_layer_with_large_enough_faces(
        janus: Netns, camera_y4m: Path, floor: int, sizes: list[str]) -> None:
    """Chromium simulcasts 640x480 and 320x240 into Janus; the bot starts on the low layer. The
    clip's face is about 110 px wide there: under a 200 px floor the bot asks Janus for the
    upper layer, over a 60 px floor it stays on the small one for the whole class."""
    res = janus.python(str(HERE / "chromium_janus_case.py"), "--seconds", "12", "--simulcast",
                       "--min-face-px", str(floor), str(camera_y4m), timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["state"] == "done", out
    assert out["sizes"] == sizes, out["sizes"]
    asked = "asking Janus for simulcast layer 1" in res.stderr
    assert asked == (len(sizes) > 1), res.stderr[-3000:]
    assert out["present"] >= 3, out["counts"]


@pytest.mark.integration
@pytest.mark.slow
def test_janus_students_received_in_worker_processes_survive_a_killed_worker(janus: Netns, camera_y4m: Path) -> None:
    """janus.receive_workers: 2 — the subscriber's media goes to a receive worker. Killing that
    worker mid-class is our fault (no_signal, never camera off or left); the connector
    subscribes again and the new peer lands on a live worker, so the face is seen again."""
    res = janus.python(str(HERE / "chromium_janus_case.py"), "--seconds", "16", "--receive-workers", "2",
                       "--kill-worker-at", "6", str(camera_y4m), timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["state"] == "done", out
    assert out["receive_workers"] == 2, out
    assert list(out["counts"]) == ["Yusuf Chromium"], out["counts"]
    times, killed = out["times"]["Yusuf Chromium"], out["killed_at"]
    # (a camera_off sample before the kill is the page's join → publish window: in the room, no camera yet)
    after = {state: [t for t in ts if t >= killed] for state, ts in times.items()}
    assert after.get("no_signal") and not after.get("camera_off") and not after.get("left"), (times, killed)
    assert any(t > out["killed_at"] + 1 for t in times["present"]), "seen again after the worker died"
    assert any(t < out["killed_at"] for t in times["present"]), "seen before the worker died"

