"""`classpulse join` SIGKILLed mid-class in a real Janus room and run again (issue 18, item 11c).

The dead attempt is closed with an end time and the gap recorded as an interruption; the
restarted bot continues the SAME session (one class, one session); the killed bot's ghost,
still listed by Janus, is never taken for a student. Real CLI, real analyser, real Janus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.netns import Netns

CASE = str(Path(__file__).with_name("join_restart_case.py"))


@pytest.mark.integration
def test_a_killed_join_restarted_continues_the_same_session(janus: Netns, videos_dir: Path) -> None:
    clips = [str(p) for p in sorted(videos_dir.glob("*.mp4"))[:2]]
    res = janus.python(CASE, *clips, timeout=420)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    sid = out["session_id"]
    assert len(out["sessions"]) == 1 and out["sessions"][0][0] == sid, f"one class, one session: {out['sessions']}"
    assert out["rc"] == 0 and out["state"] == "done" and out["ended_at"], out
    assert sid in out["continuing_line"] and sid in out["joined_line"]
    first, second = out["attempts"]
    assert first["end_reason"] == "crash" and first["ended_at"], "the dead attempt is closed with an end time"
    assert second["end_reason"] == "done" and second["ended_at"]
    [gap] = out["interruptions"]
    assert gap["reason"] == "crash" and gap["from"] and gap["to"] and gap["from"] <= gap["to"], gap
    assert out["participants"] == ["Ada", "Ben"], "the ghost (and the bot) are never students"
    assert out["in_room"].count(out["bot_name"]) == 2, f"the killed bot's ghost was still in the room: {out['in_room']}"
