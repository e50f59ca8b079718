import subprocess
import sys
from pathlib import Path

import pytest

from analysis.records import FaceReading, Observation, Participant, Quality, SessionInfo, State
from analysis.store import ObservationBuffer, Store, StoreError
from tests.databases import database_url

PROBS = (0.1, 0.0, 0.1, 0.5, 0.1, 0.1, 0.1)


def _store(tmp_path: Path) -> Store:
    s = Store(database_url(tmp_path))
    s.create_session(SessionInfo("s1", "Math", teacher="T", started_at="2026-01-05T09:00:00+00:00"))
    s.upsert_participant(Participant("s1", "p1", "Ann"))
    s.upsert_participant(Participant("s1", "p2", "Bo"))
    return s


def _obs() -> list[Observation]:
    f1 = FaceReading(1, (10, 20, 50, 60), 0.9, yaw=3.0, pitch=-2.0, attentive=True, eyes_open=True,
                     emotions=PROBS, quality=frozenset({Quality.TINY, Quality.DARK}))
    f2 = FaceReading(2, (100, 20, 40, 40), 0.8, emotions=None)
    return [
        Observation("s1", "p1", 0.0, State.PRESENT, (f1, f2)),
        Observation("s1", "p1", 1.0, State.CAMERA_OFF),
        Observation("s1", "p2", 0.0, State.ABSENT),
    ]


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.add_observations(_obs())
    got = s.observations("s1")
    assert got == sorted(_obs(), key=lambda o: (o.participant_id, o.t))
    assert s.observations("s1", "p2") == [_obs()[2]]
    assert [p.display_name for p in s.participants("s1")] == ["Ann", "Bo"]


def test_unknown_session_is_a_clear_error(tmp_path: Path) -> None:
    s = _store(tmp_path)
    with pytest.raises(StoreError, match="no session 'nope'"):
        s.session("nope")


def test_opt_out_deletes_observations_and_marks_participant(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.add_observations(_obs())
    assert s.opt_out("s1", "p1") == 3  # two face rows + one camera-off row
    assert s.observations("s1", "p1") == []
    assert s.participant("s1", "p1").opted_out
    assert len(s.observations("s1", "p2")) == 1


def test_purge_before_cutoff(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.create_session(SessionInfo("s2", "Art", started_at="2026-03-01T09:00:00+00:00"))
    s.add_observations(_obs())
    assert s.purge_before("2026-02-01") == ["s1"]
    assert [x.session_id for x in s.sessions()] == ["s2"]
    assert s.count_observations("s1") == 0


def test_buffer_flushes_on_size_and_close(tmp_path: Path) -> None:
    s = _store(tmp_path)
    buf = ObservationBuffer(s, flush_s=3600, max_rows=2)
    buf.add(_obs()[:1])
    assert s.count_observations("s1") == 0  # below max_rows, not due yet
    buf.add(_obs()[1:2])
    assert s.count_observations("s1") == 3  # flushed: 2 face rows + 1 camera-off row
    buf.add(_obs()[2:])
    buf.close()
    assert s.count_observations("s1") == 4


def test_importing_store_and_reports_loads_no_vision_stack() -> None:
    code = ("import sys, analysis.store, analysis.records, reports\n"
            "bad = [m for m in ('tensorflow', 'cv2', 'aiortc', 'keras') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.component  # a child process is killed mid-write
def test_crash_loses_at_most_the_unflushed_tail(tmp_path: Path) -> None:
    # A child process writes one observation per 0.1 s through the buffer (flush every 0.5 s)
    # and dies abruptly (os._exit: no close, no flush). Everything older than the last flush
    # interval must be in the database.
    url = f"sqlite:///{tmp_path}/crash.sqlite"
    code = f"""
import os, time
from analysis.records import Observation, SessionInfo, State
from analysis.store import ObservationBuffer, Store
s = Store({url!r}); s.create_session(SessionInfo("s1", "Math"))
buf = ObservationBuffer(s, flush_s=0.5, max_rows=10_000)
for i in range(30):
    buf.add([Observation("s1", "p1", float(i), State.ABSENT)])
    time.sleep(0.1)
buf.add([Observation("s1", "p1", 30.0, State.ABSENT)])
buf.add([Observation("s1", "p1", 31.0, State.ABSENT)])  # microseconds later: never due, so lost
os._exit(9)
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent)
    assert res.returncode == 9
    kept = Store(url).count_observations("s1")
    assert 32 - 7 <= kept <= 31  # at most ~0.5 s of samples lost, and the unflushed last one is
