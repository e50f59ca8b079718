"""Term summaries: written when a session ends, kept past the raw data, deleted with opt-out and erasure.

Runs on SQLite, and on PostgreSQL when CLASSPULSE_TEST_DB=postgresql (`make test` does both).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analysis.records import FaceReading, Interruption, Observation, Participant, SessionInfo, State
from analysis.store import Store, StoreError
from analysis.summaries import SessionDigest, StudentDigest, digest_session, status_of
from bot.cli.main import main
from bot.config import Config
from bot.connectors.fake import solid
from bot.course.summaries import keep_summaries
from bot.db.records import SessionRecord
from bot.db.store import ServiceStore
from bot.service.retention import purge
from tests.databases import database_url
from tests.service_fixtures import run, service, until

pytestmark = pytest.mark.component

BOX = (10, 10, 80, 80)
API = "/api/v1"


def _obs(sid: str, pid: str, spec: str, t0: float = 0.0) -> list[Observation]:
    """One sample per second: P looking, p looking away, A no face, C camera off."""
    out = []
    for i, ch in enumerate(spec):
        if ch in "Pp":
            face = FaceReading(1, BOX, 0.9, attentive=ch == "P", eyes_open=True)
            out.append(Observation(sid, pid, t0 + i, State.PRESENT, (face,)))
        else:
            out.append(Observation(sid, pid, t0 + i, State.ABSENT if ch == "A" else State.CAMERA_OFF))
    return out


def _session(store: Store, sid: str, started: str, class_name: str = "Maths") -> None:
    store.create_session(SessionInfo(sid, class_name, teacher="alice", started_at=started, model_version="m@1",
                                     settings='{"sample_interval_s": 1.0}'))
    store.upsert_participant(Participant(sid, "p1", "Ada Kim"))
    store.upsert_participant(Participant(sid, "p2", "Ben"))
    store.upsert_participant(Participant(sid, "p3", "Opted", opted_out=True))
    store.add_observations(_obs(sid, "p1", "PPPPPPppAC") + _obs(sid, "p2", "CCPP", 100.0)
                           + _obs(sid, "p3", "PPPP"))


def test_digest_golden_numbers_and_no_opted_out_student() -> None:
    info = SessionInfo("s1", "Maths", started_at="2026-09-07T07:15:00+00:00", model_version="m@1", settings="{}")
    people = [Participant("s1", "p1", "Ada Kim"), Participant("s1", "p2", "Ben"),
              Participant("s1", "p3", "Opted", opted_out=True)]
    obs = _obs("s1", "p1", "PPPPPPppAC") + _obs("s1", "p2", "CCPP", 100.0) + _obs("s1", "p3", "PPPP")
    session, students = digest_session(info, people, obs, class_key="cls-1", status="recorded", written_at="w")
    assert session == SessionDigest("s1", "cls-1", "Maths", "2026-09-07T07:15:00+00:00", "", "recorded", "m@1", "{}",
                                    True, "w")
    ada, ben = students
    # Ada: 10 samples; present 8 of 9 with video; looking 6 of 8; engagement (6×1.0 + 2×0.4)/8; 1 of 10 camera off
    assert (ada.participant_id, ada.display_name, ada.n_samples) == ("p1", "Ada Kim", 10)
    assert (ada.presence, ada.attention, ada.camera_off_share) == pytest.approx((8 / 9, 0.75, 0.1))
    assert ada.engagement == pytest.approx(0.85)
    assert (ada.first_t, ada.last_t, ada.in_class_s) == (0.0, 9.0, 10.0)
    assert (ben.first_t, ben.camera_off_share, ben.presence, ben.in_class_s) == (100.0, 0.5, 1.0, 4.0)
    assert [s.participant_id for s in students] == ["p1", "p2"]  # never the opted-out p3


def test_status_of_a_session() -> None:
    assert [status_of("done", 0), status_of("done", 1), status_of("interrupted", 0), status_of("failed", 0)] == [
        "recorded", "interrupted", "interrupted", "failed"]


def _record(sid: str, state: str = "done", class_id: str = "cls-1", created: str = "2026-09-07T07:15:00+00:00"
            ) -> SessionRecord:
    return SessionRecord(session_id=sid, owner="alice", class_name="Maths", meeting="m", state=state,
                         created_at=created, class_id=class_id, started_at=created)


def test_kept_deleted_with_opt_out_and_erasure_but_not_by_raw_retention(tmp_path: Path) -> None:
    store = Store(database_url(tmp_path))
    try:
        for sid in ("s1", "s2", "s3"):
            _session(store, sid, "2026-09-07T07:15:00+00:00")
            assert keep_summaries(store, _record(sid), "done", "", "2026-09-07T08:00:00+00:00") is not None
        assert [d.session_id for d in store.session_digests(class_key="cls-1")] == ["s1", "s2", "s3"]
        assert [(s.session_id, s.participant_id) for s in store.student_digests(["s1", "s2"])] == [
            ("s1", "p1"), ("s1", "p2"), ("s2", "p1"), ("s2", "p2")]
        store.opt_out("s1", "p1")  # one session's opt-out: that summary goes
        assert [s.participant_id for s in store.student_digests(["s1"])] == ["p2"]
        store.delete_session("s2")  # erasure of a session: its summaries go
        assert [d.session_id for d in store.session_digests()] == ["s1", "s3"]
        assert store.student_digests(["s2"]) == []
        store.delete_session("s3", keep_summaries=True)  # raw-data retention: summaries stay
        with pytest.raises(StoreError):
            store.session("s3")
        assert [s.participant_id for s in store.student_digests(["s3"])] == ["p1", "p2"]
        with pytest.raises(StoreError):  # erasure later still reaches the kept summaries
            store.delete_session("s3")
        assert store.student_digests(["s3"]) == [] and store.session_digests(session_ids=["s3"]) == []
        # a student erased from a class by name (case-insensitive): every kept session of the class
        assert store.delete_summaries(class_key="cls-1", display_name="BEN") == 1
        assert store.student_digests(["s1"]) == []
        assert [d.session_id for d in store.session_digests()] == ["s1"]  # the session row stays
        with pytest.raises(ValueError):
            store.delete_summaries()
    finally:
        store.close()


def test_failed_and_revoked_sessions(tmp_path: Path) -> None:
    store = Store(database_url(tmp_path))
    try:
        failed = keep_summaries(store, _record("f1", "failed"), "failed", "meeting_not_found", "w")
        assert failed is not None and (failed.status, failed.started_at) == ("failed", "2026-09-07T07:15:00+00:00")
        assert keep_summaries(store, _record("r1", "failed"), "failed", "revoked", "w") is None
        _session(store, "i1", "2026-09-08T07:15:00+00:00")
        store.add_interruption(Interruption("i1", "a", "b", "crash"))
        part = keep_summaries(store, _record("i1"), "done", "", "w")  # done, but with a gap: recorded in part
        assert part is not None and part.status == "interrupted"
        again = keep_summaries(store, _record("i1"), "done", "", "w2")  # a retried end replaces, never doubles
        assert again is not None and len(store.student_digests(["i1"])) == 2
        assert [d.session_id for d in store.session_digests()] == ["f1", "i1"]
    finally:
        store.close()


def test_retention_keeps_summaries_a_school_year(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    config = Config.model_validate({"store": {"url": url}, "reports": {"out_dir": str(tmp_path / "reports")}})
    assert config.store.summary_retention_days == 365
    now = datetime(2027, 6, 1, tzinfo=UTC)
    store = Store(url)
    db = ServiceStore(store)
    try:
        for sid, days in (("old", 400), ("term", 100), ("new", 2)):
            when = (now - timedelta(days=days)).isoformat()
            _session(store, sid, when)
            db.add_session(_record(sid, created=when))
            keep_summaries(store, _record(sid, created=when), "done", "", when)
        assert sorted(purge(store, db, config, running=set(), now=now)) == ["old", "term"]
        assert [s.session_id for s in store.sessions()] == ["new"]  # raw data: 30 days
        assert [d.session_id for d in store.session_digests()] == ["term", "new"]  # summaries: 365 days
        assert len(store.student_digests(["term"])) == 2
    finally:
        store.close()


def test_purge_command_reports_both_retentions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url(tmp_path)
    store = Store(url)
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    mid = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    for sid, when in (("old", old), ("mid", mid)):
        _session(store, sid, when)
        keep_summaries(store, _record(sid, created=when), "done", "", when)
    store.close()
    assert main(["--set", f"store.url={url}", "purge", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "would delete 2 session(s)" in err and "would delete the term summaries of 1 session(s)" in err
    assert main(["--set", f"store.url={url}", "purge"]) == 0
    store = Store(url)
    try:
        assert store.sessions() == [] and [d.session_id for d in store.session_digests()] == ["mid"]
    finally:
        store.close()


def test_the_runner_keeps_summaries_when_a_session_ends(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Maths 7B", "meeting_url": "fake:r1"},
                                      headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            res = await s.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=s.auth("alice"))
            sid = (await res.json())["session_id"]
            meeting = s.meetings.room("r1")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(100))
            await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 3)
            await s.client.post(f"{API}/sessions/{sid}/leave", headers=s.auth("alice"))
            await s.manager.wait(sid)
            [digest] = s.store.session_digests(class_key=class_id)
            assert (digest.session_id, digest.status, digest.class_name) == (sid, "recorded", "Maths 7B")
            assert digest.settings == s.store.session(sid).settings  # the session's own record, reused
            [ada] = s.store.student_digests([sid])
            assert ada.display_name == "Ada" and ada.n_samples >= 3 and ada.presence == 0.0  # fake analyser: no face
            # the class-wide opt-out by name reaches the kept summaries too
            res = await s.client.post(f"{API}/classes/{class_id}/opt-out", json={"display_name": "ada"},
                                      headers=s.auth("alice"))
            assert res.status == 200, await res.text()
            assert s.store.student_digests([sid]) == []

    run(body)


def test_deleting_a_class_deletes_its_summaries_even_past_raw_retention(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Maths 7B"}, headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            digest = SessionDigest("gone-raw", class_id, "Maths 7B", "2026-09-07T07:15:00+00:00")
            s.store.write_summaries(digest, [StudentDigest("gone-raw", "p1", "Ada", 5, 1.0, 1.0, 1.0, 0.0, 0.0, 4.0,
                                                           5.0)])
            res = await s.client.delete(f"{API}/classes/{class_id}", headers=s.auth("alice"))
            assert res.status == 200, await res.text()
            assert s.store.session_digests() == [] and s.store.student_digests(["gone-raw"]) == []

    run(body)
