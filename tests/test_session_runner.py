"""The one session runner: every entry point uses it; crashes become attempts and interruptions."""

from __future__ import annotations

import ast
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analysis.records import Observation, SessionInfo, State
from analysis.store import Store
from bot.connectors.fake import solid
from bot.db.records import SessionRecord
from bot.db.store import ServiceStore
from tests.service_fixtures import make_config, run, service, until

pytestmark = pytest.mark.component

PREFIX_API = "/api/v1"

REPO = Path(__file__).resolve().parent.parent
DEAD = f"{socket.gethostname()}:999999999:1"  # this host, a pid that cannot exist: the holder died
# Recent enough that retention (which `serve` also runs at start) keeps it.
CREATED = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0).isoformat()


def _constructs(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) == name
               for n in ast.walk(tree))


def test_only_the_runner_constructs_live_sessions() -> None:
    makers = sorted(str(p.relative_to(REPO)) for p in (REPO / "bot").rglob("*.py") if _constructs(p, "LiveSession"))
    # The runner runs every session; benchmark harnesses (bot/bench/) time a LiveSession on purpose.
    assert [m for m in makers if not m.startswith("bot/bench/")] == ["bot/sessions/runner.py"], makers
    for entry in ("bot/cli/join.py", "bot/service/api_sessions.py", "bot/service/schedules.py",
                  "bot/service/zoom_hooks.py"):
        text = (REPO / entry).read_text()
        assert "SessionSpec(" in text, f"{entry} must start sessions through SessionRunner.start"


def _crashed(url: str, *, duration_s: float | None, with_data: bool = True, origin: str = "api") -> str:
    """A session as a SIGKILLed process leaves it: open, its attempt's holder gone."""
    store = Store(url)
    db = ServiceStore(store)
    created = CREATED
    window = "2999-01-01T00:00:00+00:00" if duration_s else ""
    db.add_session(SessionRecord(session_id="s-crash", owner="alice", class_name="Maths", meeting="fake room",
                                 state="in_class", created_at=created, meeting_url="fake:r1", duration_s=duration_s,
                                 window_end=window, started_at=created if with_data else "", origin=origin))
    db.begin_attempt("s-crash", DEAD, created)
    if with_data:
        store.create_session(SessionInfo("s-crash", "Maths", teacher="alice", started_at=created))
        from analysis.records import Participant
        store.upsert_participant(Participant("s-crash", "p1", "Ada"))
        store.add_observations([Observation("s-crash", "p1", float(t), State.ABSENT) for t in range(5)])
    store.close()
    return "s-crash"


def test_a_dead_attempt_whose_window_is_open_continues_in_a_new_attempt(tmp_path: Path) -> None:
    async def body() -> None:
        config = make_config(tmp_path)
        sid = _crashed(config.store.url, duration_s=3600)
        async with service(tmp_path) as s:
            meeting = s.meetings.room("r1")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(90))
            await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 2)
            got = await (await s.client.get(f"{PREFIX_API}/sessions/{sid}", headers=s.auth("alice"))).json()
            assert [(a["number"], a["end_reason"]) for a in got["attempts"]] == [(1, "crash"), (2, "")]
            assert got["attempts"][0]["holder"] == DEAD
            [gap] = got["interruptions"]
            assert gap["from"] == CREATED and gap["to"] and gap["reason"] == "crash"
            # the returning student keeps her participant id; samples go on after the earlier ones
            assert [p.participant_id for p in s.store.participants(sid)] == ["p1"]
            s.manager.leave(sid)
            outcome = await s.manager.wait(sid)
            assert outcome is not None and outcome.state == "done"
            assert min(o.t for o in s.store.observations(sid) if o.t >= 5) > 5
            assert s.render.calls == [sid]  # rendered once, at the end

    run(body)


def test_a_dead_attempt_whose_window_closed_ends_interrupted_with_its_partial_report(tmp_path: Path) -> None:
    async def body() -> None:
        config = make_config(tmp_path)
        sid = _crashed(config.store.url, duration_s=None)
        async with service(tmp_path) as s:
            got = await (await s.client.get(f"{PREFIX_API}/sessions/{sid}", headers=s.auth("alice"))).json()
            assert got["state"] == "interrupted" and got["ended_at"]
            assert [a["end_reason"] for a in got["attempts"]] == ["crash"]
            assert got["interruptions"][0]["reason"] == "crash"
            assert s.render.calls == [sid] and sid not in s.manager.running
            listed = await (await s.client.get(f"{PREFIX_API}/reports", headers=s.auth("alice"))).json()
            assert [r["session_id"] for r in listed["items"]] == [sid]

    run(body)


def test_a_session_that_died_while_joining_is_interrupted_without_a_report(tmp_path: Path) -> None:
    async def body() -> None:
        config = make_config(tmp_path)
        sid = _crashed(config.store.url, duration_s=None, with_data=False)
        async with service(tmp_path) as s:
            record = s.db.session(sid)
            assert record is not None and record.state == "interrupted" and not s.render.calls

    run(body)


def test_a_live_holder_is_left_alone(tmp_path: Path) -> None:
    async def body() -> None:
        config = make_config(tmp_path)
        store = Store(config.store.url)
        db = ServiceStore(store)
        db.add_session(SessionRecord(session_id="s-live", owner="alice", class_name="C", meeting="m",
                                     state="in_class", created_at=CREATED, origin="api"))
        from bot.sessions.runner import holder_id
        db.begin_attempt("s-live", holder_id(), CREATED)  # this very process: alive
        store.close()
        async with service(tmp_path) as s:
            record = s.db.session("s-live")
            assert record is not None and record.state == "in_class" and len(s.db.attempts("s-live")) == 1

    run(body)


def test_a_superseded_attempt_stops_writing(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{PREFIX_API}/sessions", json={"meeting_url": "fake:r2", "duration_s": 600},
                                      headers=s.auth("alice"))
            sid = (await res.json())["session_id"]
            meeting = s.meetings.room("r2")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(90))
            await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 2)
            s.db.begin_attempt(sid, "elsewhere:1:1", "2026-01-01T00:00:00+00:00")  # another process takes over
            outcome = await s.manager.wait(sid)
            assert outcome is None  # superseded: this process neither ends nor renders the session
            n = s.store.count_observations(sid)
            assert s.db.session(sid).state == "in_class"  # type: ignore[union-attr]
            assert [a.end_reason for a in s.db.attempts(sid)] == ["superseded", ""]
            assert s.store.count_observations(sid) == n and not s.render.calls

    run(body)


def test_adopt_runs_a_queued_session_and_hand_over_leaves_it_open_for_the_next_worker(tmp_path: Path) -> None:
    """What a cluster worker does with a job (bot/cluster/worker.py), here in one process on either database."""
    async def body() -> None:
        import asyncio

        async with service(tmp_path) as s:
            s.db.add_session(SessionRecord(session_id="s-q", owner="alice", class_name="Maths", meeting="fake room",
                                           state="queued", created_at=CREATED, meeting_url="fake:rq",
                                           duration_s=3600, window_end="2999-01-01T00:00:00+00:00", origin="api"))
            meeting = s.meetings.room("rq")
            first = asyncio.ensure_future(s.manager.adopt("s-q"))
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(90))
            await until(lambda: (s.manager.live_numbers("s-q") or {}).get("samples", 0) >= 2)
            assert s.manager.hand_over("s-q")
            assert await first is None  # handed over: the session goes on elsewhere
            record = s.db.session("s-q")
            assert record is not None and not record.final and s.render.calls == []
            assert [(a.number, a.end_reason) for a in s.db.attempts("s-q")] == [(1, "handover")]
            second = asyncio.ensure_future(s.manager.adopt("s-q"))  # the next worker's job
            await until(lambda: len(s.db.attempts("s-q")) == 2 and s.db.session("s-q").state == "in_class")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f2", "Ada", video=solid(90))  # she is seen again by the new attempt's bot
            await until(lambda: (s.manager.live_numbers("s-q") or {}).get("samples", 0) >= 2)
            s.manager.leave("s-q")
            outcome = await second
            assert outcome is not None and outcome.state == "done"
            assert [a.end_reason for a in s.db.attempts("s-q")] == ["handover", "done"]
            [gap] = s.store.interruptions("s-q")
            assert gap.reason == "handover" and gap.to_at
            with s.db.engine.connect() as conn:  # observation rows carry the attempt that wrote them
                import sqlalchemy as sa

                from analysis import schema

                attempts = {r[0] for r in conn.execute(sa.select(schema.observations.c.attempt)
                                                       .where(schema.observations.c.session_id == "s-q").distinct())}
            assert attempts == {1, 2}
            assert s.render.calls == ["s-q"]  # rendered once, when the session ended

    run(body)


def test_join_run_again_for_the_same_meeting_continues_its_killed_session(tmp_path: Path) -> None:
    """`classpulse join URL` SIGKILLed and run again: one class, one session (issue 18, item 11c)."""
    import io

    from bot.cli.join import run_join
    from bot.connectors.registry import Registry
    from bot.sim.fake_analyzer import RecordingAnalyzer
    from tests.service_fixtures import Meetings

    config = make_config(tmp_path)
    sid = _crashed(config.store.url, duration_s=None, origin="cli")
    other = "s-other"
    store = Store(config.store.url)
    db = ServiceStore(store)
    db.add_session(SessionRecord(session_id=other, owner="alice", class_name="Art", meeting="fake room",
                                 state="in_class", created_at=CREATED, meeting_url="fake:r2", origin="cli"))
    db.begin_attempt(other, DEAD, CREATED)
    store.close()
    meetings = Meetings()
    out = io.StringIO()

    async def body() -> None:
        import asyncio

        room = meetings.room("r1")
        joined = asyncio.ensure_future(run_join("fake:r1", config, render=False, out=out,
                                                meetings=Registry(config, extra={"fake": meetings}),
                                                analyze_factory=RecordingAnalyzer))
        await until(lambda: room.connector is not None and room.connector.inside)
        room.arrive("f1", "Ada", video=solid(90))
        await until(lambda: len([o for o in Store(config.store.url).observations(sid) if o.t >= 5]) >= 2)
        room.end()
        outcome = await joined
        assert outcome.session_id == sid and outcome.state == "done", outcome

    run(body)
    store = Store(config.store.url)
    db = ServiceStore(store)
    sessions = db.open_sessions()
    assert sessions == [], "nothing left open"
    attempts = db.attempts(sid)
    assert [(a.number, a.end_reason) for a in attempts] == [(1, "crash"), (2, "done")]
    assert all(a.ended_at for a in attempts), "the dead attempt has an end time"
    [gap] = store.interruptions(sid)
    assert gap.reason == "crash" and gap.from_at and gap.to_at
    assert [p.participant_id for p in store.participants(sid)] == ["p1"], "Ada is the same student"
    assert db.session(other).state == "interrupted", "another meeting's dead session is closed, not continued"
    text = out.getvalue()
    assert f"session {sid} was left open by a killed `join` of this meeting: continuing it" in text
    assert f"session {other} was left open by a killed `join`: closed as interrupted" in text
