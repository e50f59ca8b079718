"""Whole Zoom RTMS sessions against the in-process fake Zoom over real websockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analysis.records import State as ObsState
from analysis.store import Store
from bot.config import Config
from bot.connectors.base import FailureReason
from bot.connectors.zoom import ZoomConnector
from bot.connectors.zoom_fake import FakeZoom, jpeg_frames, send_webhook, started_payload
from bot.service.app import create_app
from bot.service.state import manager_key
from bot.service.zoom_hooks import session_id_for
from bot.sessions.lifecycle import LeaveReason, State
from bot.sessions.live import LiveSession
from bot.sessions.runner import Outcome
from bot.sim.fake_analyzer import RecordingAnalyzer

CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET = "cid-123", "client-secret-xyz", "hook-secret-abc"


def make_config(tmp_path: Path, interval_s: float = 0.1, **zoom: object) -> Config:
    return Config.model_validate({
        "analysis": {"sample_interval_s": interval_s},
        "store": {"url": f"sqlite:///{tmp_path}/cp.db", "flush_s": 0.1},
        "reports": {"out_dir": str(tmp_path / "reports")},
        "session": {"join_timeout_s": 5, "empty_timeout_s": 1.0, "nobody_timeout_s": 10, "media_timeout_s": 10},
        "zoom": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET,
                 "dwell_s": 0.5, "frame_timeout_s": 1.0, "handshake_timeout_s": 3, "webhook_path": "/zoom/hook",
                 "port": 0, **zoom},
    })


@pytest.fixture
def frames(videos_dir: Path) -> list[list[bytes]]:
    clips = sorted(videos_dir.glob("liveportrait_driving_*.mp4"))[:4]
    out = [jpeg_frames(str(c), count=6) for c in clips]
    assert all(out), "could not decode the face videos"
    return out


async def until(cond: Callable[[], bool], within_s: float = 8.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def test_a_class_started_and_stopped_by_webhooks(tmp_path: Path, frames: list[list[bytes]]) -> None:
    """4 students: 2 join late, 1 turns video off, 1 leaves; rotation reaches everyone with camera on."""
    from aiohttp import web

    config = make_config(tmp_path, interval_s=0.2)
    store = Store(config.store.url)
    analyze = RecordingAnalyzer()

    async def main() -> tuple[Outcome, FakeZoom]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        ref = await zoom.start()
        await zoom.join(101, "Ada Lovelace", frames[0])
        await zoom.join(102, "Alan Turing", frames[1])
        app = create_app(config, analyze_factory=lambda: analyze, render=None)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/zoom/hook"
        try:
            sessions = app[manager_key]
            status, _ = await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(ref))
            assert status == 200
            retry, _ = await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(ref))
            sid = session_id_for(ref.rtms_stream_id)
            await until(lambda: sid in sessions.running)
            await asyncio.sleep(0.2)
            assert retry == 200 and list(sessions.running) == [sid]  # a retried webhook is not a second session
            await until(lambda: {101, 102} <= set(zoom.log.video_sent))
            await zoom.join(103, "Grace Hopper", frames[2])  # late
            await zoom.join(104, "Edsger Dijkstra", frames[3])  # late
            await until(lambda: zoom.log.video_sent.get(103, 0) >= 3 and zoom.log.video_sent.get(104, 0) >= 3)
            await zoom.video_off(102)
            await zoom.leave(104)
            subs_before = len(zoom.log.subscriptions)
            await until(lambda: len(zoom.log.subscriptions) >= subs_before + 4)
            await asyncio.sleep(0.3)
            status, _ = await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_stopped",
                                           {**started_payload(ref), "stop_reason": 6})
            assert status == 200
            outcome = await asyncio.wait_for(sessions.wait(sid), 15)
            assert outcome is not None
            return outcome, zoom
        finally:
            await zoom.close()
            await runner.cleanup()

    outcome, zoom = asyncio.run(main())
    result = outcome.result
    assert result is not None and outcome.state == "done"
    assert result.state is State.DONE and result.leave_reason is LeaveReason.MEETING_ENDED, result
    assert result.students == 4
    # protocol order: signalling handshake, event subscription (join/leave/video on/off/speaker), ready ack
    kinds = [m["msg_type"] for m in zoom.log.signalling]
    assert kinds[:2] == [1, 5] and 7 in kinds
    assert {e["event_type"] for e in zoom.log.signalling[1]["events"]} == {2, 3, 4, 8, 9}
    assert zoom.log.media[0]["msg_type"] == 3 and zoom.log.media[0]["media_params"]["video"]["data_opt"] == 4
    assert zoom.log.keepalive_replies > 0
    # after 102 turned video off and 104 left, the rotation only subscribed to 101 and 103
    late_subs = zoom.log.subscriptions[-4:]
    assert set(late_subs) <= {101, 103} and set(late_subs) == {101, 103}

    info = store.session(result.session_id)
    assert info.sampling.startswith("rotation over students with camera on")
    assert "Zoom meeting" in info.source
    names = {p.participant_id: p.display_name for p in store.participants(result.session_id)}
    assert sorted(names.values()) == ["Ada Lovelace", "Alan Turing", "Edsger Dijkstra", "Grace Hopper"]
    by_name = {v: k for k, v in names.items()}
    obs = store.observations(result.session_id)
    seen = {o.participant_id for o in obs if o.state is ObsState.ABSENT}  # RecordingAnalyzer: frame → ABSENT
    assert seen == set(names)  # every student was sampled from real frames
    off = [o for o in obs if o.participant_id == by_name["Alan Turing"] and o.state is ObsState.CAMERA_OFF]
    assert off, "camera off is recorded as its own state"
    # a student the rotation is not watching is skipped, never sampled as camera off
    for name in ("Ada Lovelace", "Grace Hopper"):
        assert not [o for o in obs if o.participant_id == by_name[name] and o.state is ObsState.CAMERA_OFF]
    # ...nor sampled again from its last frame: each analysed frame is a fresh one (a little slack
    # for a tick that comes before the next frame on a busy machine)
    for pid in names:
        with_frames = [id(s.frame) for s in analyze.frames_of(pid) if s.frame is not None]
        assert len(with_frames) - len(set(with_frames)) <= max(1, len(with_frames) // 3), names[pid]
    dijkstra_last = max(o.t for o in obs if o.participant_id == by_name["Edsger Dijkstra"])
    assert dijkstra_last < max(o.t for o in obs)  # nothing after leaving
    store.close()


def run_connector(tmp_path: Path, scenario: Callable[[FakeZoom, LiveSession], object], *,
                  secret: str = CLIENT_SECRET, **zoom_cfg: Any) -> tuple[LiveSession, FakeZoom, Store]:
    config = make_config(tmp_path, client_secret=secret, **zoom_cfg)
    store = Store(config.store.url)
    analyze = RecordingAnalyzer()

    async def main() -> tuple[LiveSession, FakeZoom]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        ref = await zoom.start()
        connector = ZoomConnector(ref, config.zoom, sample_interval_s=config.analysis.sample_interval_s)
        live = LiveSession(connector, config, store, analyze_factory=lambda: analyze, render=None)
        try:
            runner = asyncio.ensure_future(live.run())
            await scenario(zoom, live)  # type: ignore[misc]
            await asyncio.wait_for(runner, 15)
        finally:
            await zoom.close()
        return live, zoom

    live, zoom = asyncio.run(main())
    return live, zoom, store


def test_wrong_stream_signature_fails_the_session_with_the_reason(tmp_path: Path) -> None:
    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        pass

    live, zoom, store = run_connector(tmp_path, scenario, secret="not-the-secret")
    assert live.state is State.FAILED
    assert live.lifecycle.failure is FailureReason.WRONG_SECRET
    assert "stream signature" in live.lifecycle.detail and "status 15" in live.lifecycle.detail
    assert "not-the-secret" not in live.lifecycle.detail
    assert zoom.log.media == []  # never got as far as the media socket
    store.close()


def test_nothing_listening_is_meeting_not_found(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    from bot.connectors.zoom_protocol import StreamRef

    async def main() -> LiveSession:
        connector = ZoomConnector(StreamRef("m", "s", "ws://127.0.0.1:9/signaling"), config.zoom)
        live = LiveSession(connector, config, Store(config.store.url), analyze_factory=RecordingAnalyzer,
                           render=None)
        await live.run()
        return live

    live = asyncio.run(main())
    assert live.lifecycle.failure is FailureReason.MEETING_NOT_FOUND and "signalling socket" in live.lifecycle.detail


def test_dropped_media_socket_is_reopened_and_video_resumes(tmp_path: Path, frames: list[list[bytes]]) -> None:
    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await zoom.join(201, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(201, 0) > 2)
        await zoom.drop_media()
        await until(lambda: zoom.log.media_connections == 2)
        sent = zoom.log.video_sent[201]
        await until(lambda: zoom.log.video_sent[201] > sent + 2)  # re-subscribed after the new ready ack
        await zoom.stop(stop_reason=6)

    live, zoom, store = run_connector(tmp_path, scenario)
    assert live.state is State.DONE and live.reconnects == 1
    assert live.connector.media_reconnects == 1  # type: ignore[attr-defined]
    assert [m["msg_type"] for m in zoom.log.signalling].count(7) == 2  # a ready ack per media connection
    store.close()


def test_stream_revoked_mid_class_ends_as_connection_lost(tmp_path: Path, frames: list[list[bytes]]) -> None:
    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await zoom.join(301, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(301, 0) > 2)
        await zoom.stop(stop_reason=8)

    live, _, store = run_connector(tmp_path, scenario)
    assert live.state is State.DONE and live._leave_reason is LeaveReason.CONNECTION_LOST
    store.close()


@pytest.mark.slow
def test_real_analyser_finds_the_students_faces_and_renders_the_report(tmp_path: Path,
                                                                       frames: list[list[bytes]]) -> None:
    config = Config.model_validate({
        **make_config(tmp_path, interval_s=0.5).model_dump(mode="python", exclude={"zoom"}),
        "reports": {"out_dir": str(tmp_path / "reports"), "formats": ["html"]},
        "session": {"join_timeout_s": 5, "empty_timeout_s": 5, "nobody_timeout_s": 60, "media_timeout_s": 60},
        "zoom": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "dwell_s": 1.5},
    })
    store = Store(config.store.url)

    async def main() -> LiveSession:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.5, fps=5)
        ref = await zoom.start()
        await zoom.join(1, "Ada Lovelace", frames[0])
        await zoom.join(2, "Alan Turing", frames[1])
        connector = ZoomConnector(ref, config.zoom, sample_interval_s=0.5)
        live = LiveSession(connector, config, store, class_name="Zoom maths")
        try:
            runner = asyncio.ensure_future(live.run())
            await asyncio.wait_for(live.in_class.wait(), 120)  # includes loading the model
            def both_sampled() -> bool:  # a busy machine drops ticks: wait for samples, not for time
                counts = live.sampler.participants() if live.sampler is not None else {}
                return len(counts) == 2 and all(c["samples"] >= 4 for c in counts.values())

            await until(both_sampled, 150)
            await zoom.stop(stop_reason=6)
            await asyncio.wait_for(runner, 120)
        finally:
            await zoom.close()
        return live

    live = asyncio.run(main())
    assert live.state is State.DONE, live.lifecycle.detail
    assert not live.report_error, live.report_error
    names = {p.participant_id: p.display_name for p in store.participants(live.session_id)}
    present = {names[o.participant_id] for o in store.observations(live.session_id) if o.state is ObsState.PRESENT}
    assert present == {"Ada Lovelace", "Alan Turing"}
    html = next(p for p in live.reports if p.name.endswith(".html") and "class" in p.name).read_text()
    assert "Ada Lovelace" in html and "Alan Turing" in html and "rotation over students" in html
    store.close()


def test_a_second_client_on_the_same_stream_is_not_admitted(tmp_path: Path) -> None:
    config = make_config(tmp_path)

    async def main() -> LiveSession:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET)
        ref = await zoom.start()
        first = ZoomConnector(ref, config.zoom)
        await first.join()
        try:
            live = LiveSession(ZoomConnector(ref, config.zoom), config, Store(config.store.url),
                               analyze_factory=RecordingAnalyzer, render=None)
            await live.run()
        finally:
            await first.leave()
            await zoom.close()
        return live

    live = asyncio.run(main())
    assert live.lifecycle.failure is FailureReason.NOT_ADMITTED and "already connected" in live.lifecycle.detail


def test_h264_video_is_decoded_per_student(tmp_path: Path, videos_dir: Path) -> None:
    from bot.connectors.zoom_fake import h264_packets
    from bot.connectors.zoom_protocol import Codec

    clips = sorted(videos_dir.glob("liveportrait_driving_*.mp4"))[:2]
    try:
        streams = [h264_packets(str(c), count=10) for c in clips]
    except Exception as exc:  # PyAV without libx264
        pytest.skip(f"cannot encode H.264 here: {exc}")
    config = make_config(tmp_path, codec="h264", fps=10, dwell_s=0.5)
    store = Store(config.store.url)
    analyze = RecordingAnalyzer()

    async def main() -> tuple[LiveSession, FakeZoom]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3, codec=Codec.H264)
        ref = await zoom.start()
        await zoom.join(1, "Ada Lovelace", streams[0])
        await zoom.join(2, "Alan Turing", streams[1])
        connector = ZoomConnector(ref, config.zoom, sample_interval_s=0.1)
        live = LiveSession(connector, config, store, analyze_factory=lambda: analyze, render=None)
        try:
            runner = asyncio.ensure_future(live.run())
            await until(lambda: zoom.log.subscriptions.count(1) >= 2 and zoom.log.subscriptions.count(2) >= 2)
            await zoom.stop(stop_reason=6)
            await asyncio.wait_for(runner, 15)
        finally:
            await zoom.close()
        return live, zoom

    live, zoom = asyncio.run(main())
    assert live.state is State.DONE
    assert zoom.log.media[0]["media_params"]["video"]["codec"] == 7
    names = {p.participant_id: p.display_name for p in store.participants(live.session_id)}
    for pid, name in names.items():
        shapes = {s.frame.shape for s in analyze.frames_of(pid) if s.frame is not None}
        assert shapes and all(sh[1] == 320 for sh in shapes), name  # decoded pictures of every student
    store.close()
