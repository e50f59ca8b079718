"""A whole live session against the fake meeting: lifecycle, roster, store, reports, failures."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest

from analysis.records import State as ObsState
from analysis.store import Store
from bot.config import Config
from bot.connectors.base import FailureReason
from bot.connectors.fake import FakeConnector, FakeMeeting, solid
from bot.connectors.push import PushVideoTrack
from bot.sessions.lifecycle import LeaveReason, State
from bot.sessions.live import LiveSession, SessionResult
from bot.sim.fake_analyzer import RecordingAnalyzer


def make_config(tmp_path: Path, **session: float) -> Config:
    return Config.model_validate({
        "analysis": {"sample_interval_s": 0.05},
        "store": {"url": f"sqlite:///{tmp_path}/cp.db", "flush_s": 0.1},
        "reports": {"out_dir": str(tmp_path / "reports")},
        "session": {"join_timeout_s": 2, "empty_timeout_s": 5, "nobody_timeout_s": 5, "media_timeout_s": 5,
                    **session},
    })


class FakeRender:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, Path, tuple[str, ...]]] = []
        self.papers: list[str] = []
        self.fail = fail

    def __call__(self, store: Store, session_id: str, out_dir: Path, formats: Sequence[str],
                 paper: str = "a4") -> list[Path]:
        if self.fail:
            raise OSError("disk full")
        self.calls.append((session_id, out_dir, tuple(formats)))
        self.papers.append(paper)
        store.session(session_id)  # reports read the stored session: it must be there
        return [out_dir / "class.html"]


Script = Callable[[FakeMeeting, LiveSession], Coroutine[Any, Any, None]]


def run_session(tmp_path: Path, script: Script, *, meeting: FakeMeeting | None = None, pin: str = "",
                render: FakeRender | None = None, inference_s: float = 0.0,
                **session: float) -> tuple[SessionResult, LiveSession, Store]:
    config = make_config(tmp_path, **session)
    store = Store(config.store.url)
    meeting = meeting or FakeMeeting()
    analyze = RecordingAnalyzer(delay_s=inference_s)

    async def main() -> tuple[SessionResult, LiveSession]:
        live = LiveSession(FakeConnector(meeting, pin=pin), config, store, class_name="Maths 7B",
                           analyze_factory=lambda: analyze, render=render or FakeRender())
        runner = asyncio.ensure_future(live.run())
        await script(meeting, live)
        return await asyncio.wait_for(runner, 20), live

    result, live = asyncio.run(main())
    return result, live, store


async def until(cond: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def test_a_class_with_late_leaving_rejoining_and_camera_off_students(tmp_path: Path) -> None:
    render = FakeRender()

    async def script(m: FakeMeeting, live: LiveSession) -> None:
        m.arrive("f-ada", "Ada", video=solid(100))  # there before the bot
        await until(lambda: live.state is State.IN_CLASS)
        m.arrive("f-ben", "Ben", video=solid(150))
        m.arrive("f-cam", "Cam")  # camera off the whole time
        await asyncio.sleep(0.4)
        m.depart("f-ben")  # Ben's Wi-Fi drops...
        await asyncio.sleep(0.2)
        m.arrive("f-ben-2", "Ben", video=solid(160))  # ...and he is back on a new feed
        m.arrive("f-dev", "Dev", video=solid(90))  # late
        m.signalling_blip()
        await asyncio.sleep(0.4)
        m.camera_off("f-ada")
        m.depart("f-dev")  # leaves early for good
        await asyncio.sleep(0.4)
        live.request_leave()

    result, live, store = run_session(tmp_path, script, render=render)
    assert result.state is State.DONE, result
    assert live.lifecycle.history == [State.SCHEDULED, State.JOINING, State.IN_CLASS, State.LEAVING,
                                      State.PROCESSING, State.DONE]
    assert result.leave_reason is LeaveReason.REQUESTED and live.reconnects == 1
    people = {p.display_name: p.participant_id for p in store.participants(result.session_id)}
    assert sorted(people) == ["Ada", "Ben", "Cam", "Dev"], "Ben must stay one student"
    obs = store.observations(result.session_id)
    by = {name: [o for o in obs if o.participant_id == pid] for name, pid in people.items()}
    assert all(o.state is ObsState.CAMERA_OFF for o in by["Cam"]) and len(by["Cam"]) >= 10
    assert by["Ada"][0].state is ObsState.ABSENT and by["Ada"][-1].state is ObsState.CAMERA_OFF
    ben_t = [o.t for o in by["Ben"]]
    assert max(b - a for a, b in itertools.pairwise(ben_t)) >= 0.15, "gap while Ben was away"
    assert ben_t[-1] > 1.0
    assert by["Dev"] and by["Dev"][-1].t < ben_t[-1] - 0.2
    assert render.calls == [(result.session_id, tmp_path / "reports" / result.session_id, ("html", "pdf"))]
    assert render.papers == ["a4"]  # reports.paper from the config
    info = store.session(result.session_id)
    assert info.class_name == "Maths 7B" and info.ended_at
    assert info.source.startswith("fake meeting; students informed by the bot's visible name")
    # every sample is one observation; a student who left also gets one `left` mark
    sampled = [o for o in obs if o.state is not ObsState.LEFT]
    assert result.samples == len(sampled) and result.students == 4


@pytest.mark.parametrize(("meeting", "pin", "reason"), [
    (FakeMeeting(exists=False), "", FailureReason.MEETING_NOT_FOUND),
    (FakeMeeting(pin="1234"), "9999", FailureReason.WRONG_SECRET),
    (FakeMeeting(admit=False), "", FailureReason.NOT_ADMITTED),
])
def test_join_failures_have_precise_reasons_and_store_nothing(
        tmp_path: Path, meeting: FakeMeeting, pin: str, reason: FailureReason) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        pass

    result, live, store = run_session(tmp_path, script, meeting=meeting, pin=pin, join_timeout_s=0.3)
    assert result.state is State.FAILED and result.failure is reason, result
    assert live.lifecycle.history == [State.SCHEDULED, State.JOINING, State.FAILED]
    assert result.detail and store.sessions() == []


def test_leave_request_while_joining_cancels(tmp_path: Path) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        await asyncio.sleep(0.1)
        live.request_leave()

    result, _, _ = run_session(tmp_path, script, meeting=FakeMeeting(admit=False), join_timeout_s=10)
    assert result.failure is FailureReason.CANCELLED


def test_auto_leave_when_the_class_is_empty(tmp_path: Path) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        await until(lambda: live.state is State.IN_CLASS)
        m.arrive("f1", "Ada", video=solid(100))
        await until(lambda: live.sampler is not None and live.sampler.stats.samples >= 3)  # not a fixed sleep
        m.depart("f1")

    result, _, store = run_session(tmp_path, script, empty_timeout_s=0.4)
    assert result.state is State.DONE and result.leave_reason is LeaveReason.EMPTY
    assert store.count_observations(result.session_id) >= 3


def test_nobody_joined_fails_after_the_timeout(tmp_path: Path) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        pass

    result, live, _ = run_session(tmp_path, script, nobody_timeout_s=0.3)
    assert result.state is State.FAILED and result.failure is FailureReason.NOBODY_JOINED
    assert State.LEAVING in live.lifecycle.history


def test_max_duration_ends_the_class(tmp_path: Path) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        m.arrive("f1", "Ada", video=solid(100))

    result, _, _ = run_session(tmp_path, script, max_duration_s=0.5)
    assert result.state is State.DONE and result.leave_reason is LeaveReason.MAX_DURATION


def test_cameras_on_but_no_media_is_a_network_failure(tmp_path: Path) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        await until(lambda: live.state is State.IN_CLASS)
        m.arrive("f1", "Ada")
        m.attach("f1", PushVideoTrack())  # negotiated, but ICE never delivers a frame

    result, _, _ = run_session(tmp_path, script, media_timeout_s=0.4)
    assert result.state is State.FAILED and result.failure is FailureReason.NETWORK
    assert "ICE" in result.detail


def test_connection_lost_mid_class_keeps_the_data_and_reports(tmp_path: Path) -> None:
    render = FakeRender()

    async def script(m: FakeMeeting, live: LiveSession) -> None:
        await until(lambda: live.state is State.IN_CLASS)
        m.arrive("f1", "Ada", video=solid(100))
        await until(lambda: live.sampler is not None and live.sampler.stats.samples >= 4)  # not a fixed sleep
        m.end(FailureReason.NETWORK, "signalling gone for 30 s")

    result, _, store = run_session(tmp_path, script, render=render)
    assert result.state is State.DONE and result.leave_reason is LeaveReason.CONNECTION_LOST
    assert store.count_observations(result.session_id) >= 4 and render.calls


def test_report_failure_keeps_the_session_done_with_the_error(tmp_path: Path) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        m.arrive("f1", "Ada", video=solid(100))
        await asyncio.sleep(0.3)
        live.request_leave()

    result, _, store = run_session(tmp_path, script, render=FakeRender(fail=True))
    assert result.state is State.DONE and "disk full" in result.report_error
    assert store.count_observations(result.session_id) > 0


def test_a_student_who_leaves_gets_a_left_mark_and_the_report_says_so(tmp_path: Path) -> None:
    from analysis.aggregate import summarize
    from analysis.records import State as ObsState

    async def script(m: FakeMeeting, live: LiveSession) -> None:
        m.arrive("f1", "Ada", video=solid(100))
        m.arrive("f2", "Ben", video=solid(120))
        await until(lambda: live.sampler is not None and live.sampler.stats.samples >= 4)
        m.depart("f2")
        await asyncio.sleep(0.3)
        live.request_leave()

    result, _, store = run_session(tmp_path, script)
    names = {p.display_name: p.participant_id for p in store.participants(result.session_id)}
    obs = store.observations(result.session_id, names["Ben"])
    assert [o.state for o in obs].count(ObsState.LEFT) == 1 and obs[-1].state is ObsState.LEFT
    summary = summarize(store.observations(result.session_id))[names["Ben"]]
    assert summary.left_at == (obs[-1].t,) and summary.signals.presence_share is not None
    assert not summarize(store.observations(result.session_id))[names["Ada"]].left_at


def test_the_stored_sampling_line_says_the_class_ran_over_capacity_and_what_video_arrived(tmp_path: Path) -> None:
    """Inference slower than the 0.05 s interval: every student is sampled less often, and the report's
    sampling line says so (issue 15: degrade evenly and say so), with the quality received."""
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        await until(lambda: live.state is State.IN_CLASS)
        m.arrive("f1", "Ada", video=solid(100), fps=20)
        m.arrive("f2", "Ben", video=solid(120), fps=20)
        # the slowest rate is a mean over 10 intervals between inferences: 11 inferences
        await until(lambda: live.sampler is not None and live.sampler.stats.inferences >= 12)
        live.request_leave()

    result, _, store = run_session(tmp_path, script, inference_s=0.1)
    sampling = store.session(result.session_id).sampling
    assert sampling.startswith("1 frame per student every 0.05 s; over capacity: slowed to 1 frame per student every ")
    assert "video received: 64x48 at " in sampling and "(median of 2 students)" in sampling


def test_a_class_within_capacity_keeps_the_configured_sampling_line(tmp_path: Path) -> None:
    async def script(m: FakeMeeting, live: LiveSession) -> None:
        await until(lambda: live.state is State.IN_CLASS)
        m.arrive("f1", "Ada", video=solid(100), fps=20)
        await until(lambda: live.sampler is not None and live.sampler.stats.samples >= 3)
        live.request_leave()

    result, _, store = run_session(tmp_path, script)
    assert "over capacity" not in store.session(result.session_id).sampling


def test_the_connector_hears_face_sizes_by_feed(tmp_path: Path) -> None:
    """Each sample's face size reaches the connector under the platform's feed id (layer choice)."""
    heard: list[dict[str, float | None]] = []
    meeting = FakeMeeting()

    class Listening(FakeConnector):
        def face_sizes(self, sizes: Any) -> None:
            heard.append(dict(sizes))

    config = make_config(tmp_path)
    store = Store(config.store.url)

    async def main() -> SessionResult:
        live = LiveSession(Listening(meeting), config, store, class_name="Maths 7B",
                           analyze_factory=RecordingAnalyzer, render=FakeRender())
        runner = asyncio.ensure_future(live.run())
        await until(lambda: live.state is State.IN_CLASS)
        meeting.arrive("f1", "Ada", video=solid(100))
        await until(lambda: len(heard) >= 3)
        live.request_leave()
        return await asyncio.wait_for(runner, 20)

    assert asyncio.run(main()).state is State.DONE
    assert heard[:3] == [{"f1": None}] * 3  # the fake analyser finds nobody: ABSENT → None
