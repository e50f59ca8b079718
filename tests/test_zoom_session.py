"""Whole Zoom RTMS sessions against the rebuilt fake Zoom over real websockets on 127.0.0.1.

The fake follows Zoom's published behaviour (bot/connectors/zoom_fixtures.py names the
source of every message); in particular it replays NOBODY: people already in the meeting
when the stream starts surface only through what Zoom documents (active speaker, camera
events, the names on video frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web

from analysis.records import State as ObsState
from analysis.store import Store
from bot.cli.join import run_join
from bot.config import Config
from bot.connectors.base import FailureReason
from bot.connectors.zoom import ZoomConnector
from bot.connectors.zoom_fake import FakeStream, FakeZoom, jpeg_frames, send_webhook, started_payload
from bot.connectors.zoom_protocol import StreamRef
from bot.db import tables
from bot.db.records import ClassRecord
from bot.db.store import ServiceStore
from bot.service.app import create_app
from bot.service.auth import Role, create_token
from bot.service.state import db_key, manager_key
from bot.service.zoom_hooks import session_id_for, stream_url
from bot.sessions.lifecycle import LeaveReason, State
from bot.sessions.live import LiveSession, Render
from bot.sessions.runner import Outcome, people_of
from bot.sim.fake_analyzer import RecordingAnalyzer

pytestmark = pytest.mark.component

CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET = "cid-123", "client-secret-xyz", "hook-secret-abc"


def make_config(tmp_path: Path, interval_s: float = 0.1, **zoom: object) -> Config:
    return Config.model_validate({
        "analysis": {"sample_interval_s": interval_s},
        "store": {"url": f"sqlite:///{tmp_path}/cp.db", "flush_s": 0.1},
        "reports": {"out_dir": str(tmp_path / "reports")},
        "session": {"join_timeout_s": 5, "empty_timeout_s": 5.0, "nobody_timeout_s": 20, "media_timeout_s": 20},
        "zoom": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET,
                 "dwell_s": 0.4, "frame_timeout_s": 0.6, "handshake_timeout_s": 3, "webhook_path": "/zoom/hook",
                 "port": 0, "reconnect_backoff_s": 0.2, "probe_retry_s": 1.0,
                 "allow_private_server_urls": True, **zoom},  # the fake Zoom listens on 127.0.0.1
    })


def ref_of(stream: FakeStream) -> StreamRef:
    return StreamRef(stream.meeting_uuid, stream.rtms_stream_id, stream.server_urls)


@pytest.fixture
def frames(videos_dir: Path) -> list[list[bytes]]:
    clips = sorted(videos_dir.glob("liveportrait_driving_*.mp4"))[:5]
    out = [jpeg_frames(str(c), count=6) for c in clips]
    assert all(out), "could not decode the face videos"
    return out


async def until(cond: Callable[[], bool], within_s: float = 10.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


Scenario = Callable[[FakeZoom, LiveSession], Awaitable[None]]


def run_session(tmp_path: Path, zoom: FakeZoom, scenario: Scenario, *, store: Store | None = None,
                known: list[tuple[str, str]] | None = None, secret: str = CLIENT_SECRET,
                **zoom_cfg: Any) -> tuple[LiveSession, Store, RecordingAnalyzer]:
    """One LiveSession on a ZoomConnector against `zoom` (already populated, maybe started)."""
    config = make_config(tmp_path, client_secret=secret, **zoom_cfg)
    store = store or Store(config.store.url)
    analyze = RecordingAnalyzer()

    async def main() -> LiveSession:
        stream = zoom.stream if zoom.base else await zoom.start()
        connector = ZoomConnector(ref_of(stream), config.zoom, sample_interval_s=config.analysis.sample_interval_s,
                                  known=known or ())
        live = LiveSession(connector, config, store, analyze_factory=lambda: analyze, render=None)
        runner = asyncio.ensure_future(live.run())
        try:
            await scenario(zoom, live)
            await asyncio.wait_for(runner, 20)
        finally:
            if not runner.done():
                runner.cancel()
        return live

    return asyncio.run(main()), store, analyze


def names_of(store: Store, session_id: str) -> dict[str, str]:
    return {p.participant_id: p.display_name for p in store.participants(session_id)}


def seen_on_video(store: Store, session_id: str) -> set[str]:
    """Names with at least one observation made from a real frame (RecordingAnalyzer: ABSENT)."""
    names = names_of(store, session_id)
    return {names[o.participant_id] for o in store.observations(session_id) if o.state is ObsState.ABSENT}


def test_a_class_of_four_where_nobody_is_replayed(tmp_path: Path, frames: list[list[bytes]]) -> None:
    """Present before the stream: Ada, Alan, Edsger (and Sam, who never says or shows anything);
    Grace joins later; Edsger turns his camera off. Zoom replays none of them."""
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
    zoom.add_present(101, "Ada Lovelace", frames[0])
    zoom.add_present(102, "Alan Turing", frames[1])
    zoom.add_present(104, "Edsger Dijkstra", frames[3])
    zoom.add_present(105, "Silent Sam", frames[4])

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.speak(101)  # active speaker: id AND name
        await zoom.speak(104)
        await zoom.video_off(102)  # camera events carry ids only ...
        await zoom.video_on(102)  # ... the frames Alan then sends carry his name
        await until(lambda: all(zoom.log.video_sent.get(u, 0) >= 3 for u in (101, 102, 104)))
        await zoom.join(103, "Grace Hopper", frames[2])  # joins later: string id, as Zoom's example
        await until(lambda: zoom.log.video_sent.get(103, 0) >= 3)
        await zoom.video_off(104)
        await asyncio.sleep(0.6)
        assert zoom.live
        await zoom.stop()

    live, store, _ = run_session(tmp_path, zoom, scenario)
    assert live.state is State.DONE, live.lifecycle.detail
    sid = live.session_id
    assert sorted(names_of(store, sid).values()) == ["Ada Lovelace", "Alan Turing", "Edsger Dijkstra",
                                                     "Grace Hopper"]
    assert seen_on_video(store, sid) == {"Ada Lovelace", "Alan Turing", "Edsger Dijkstra", "Grace Hopper"}
    names = names_of(store, sid)
    off = {names[o.participant_id] for o in store.observations(sid) if o.state is ObsState.CAMERA_OFF}
    assert off == {"Edsger Dijkstra"}  # unknown camera states are skipped, never "camera off"
    # the protocol as Zoom documents it
    sent = [m["msg_type"] for m in zoom.log.signaling]
    assert sent[0] == 1 and 7 in sent and 5 in sent and 28 in sent
    assert zoom.log.misplaced == []  # no subscription on the media socket
    assert 21 not in sent and zoom.log.ended == 6
    assert zoom.log.keepalive_replies > 0 and zoom.log.bad_keepalive_replies == 0
    events = next(m for m in zoom.log.signaling if m["msg_type"] == 5)["events"]
    assert {e["event_type"] for e in events} == {2, 3, 4, 8, 9}  # not 1 and 7: sent unsolicited
    assert zoom.log.granted[0]["data_opt"] == 4
    store.close()


def test_replayed_joins_do_not_double_anyone(tmp_path: Path, frames: list[list[bytes]]) -> None:
    """If Zoom does replay present participants after all (to confirm on a real class), fine too."""
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3, replay_present=True)
    zoom.add_present(1, "Ada Lovelace", frames[0])
    zoom.add_present(2, "Alan Turing", frames[1])

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(lambda: all(zoom.log.video_sent.get(u, 0) >= 3 for u in (1, 2)))
        await zoom.speak(1)
        await zoom.stop()

    live, store, _ = run_session(tmp_path, zoom, scenario)
    assert sorted(names_of(store, live.session_id).values()) == ["Ada Lovelace", "Alan Turing"]
    store.close()


@pytest.mark.parametrize("string_ids", [True, False])
def test_video_subscriptions_send_numeric_ids_as_numbers(tmp_path: Path, frames: list[list[bytes]],
                                                         string_ids: bool) -> None:
    """Zoom's join example writes user ids as strings, but 28 documents user_id as an unsigned
    int32 taken from PARTICIPANT_VIDEO_ON (numbers): a numeric id always goes out as a number."""
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3, string_ids=string_ids)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(16778240, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(16778240, 0) >= 3)
        await zoom.stop()

    live, store, _ = run_session(tmp_path, zoom, scenario)
    sent = [m["user_id"] for m in zoom.log.signaling if m.get("msg_type") == 28]
    assert sent and all(u == 16778240 for u in sent)
    assert seen_on_video(store, live.session_id) == {"Ada Lovelace"}
    store.close()


def test_a_restart_mid_class_resumes_without_closing_the_stream(tmp_path: Path,
                                                                frames: list[list[bytes]]) -> None:
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
    zoom.add_present(1, "Ada Lovelace", frames[0])
    config = make_config(tmp_path)
    store = Store(config.store.url)
    known: list[tuple[str, str]] = []

    async def first(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.speak(1)
        await zoom.join(2, "Grace Hopper", frames[1])
        await until(lambda: all(zoom.log.video_sent.get(u, 0) >= 3 for u in (1, 2)))
        assert isinstance(live.connector, ZoomConnector)
        known.extend(live.connector.participants.known())
        live.request_leave(LeaveReason.REQUESTED)  # the service shuts down (restart, deploy)

    async def second(zoom: FakeZoom, live: LiveSession) -> None:
        sent = dict(zoom.log.video_sent)
        await until(lambda: all(zoom.log.video_sent.get(u, 0) >= sent[u] + 3 for u in (1, 2)))
        await zoom.stop()

    async def main() -> tuple[LiveSession, LiveSession]:
        await zoom.start()
        try:
            lives = []
            for scenario, hints in ((first, None), (second, known)):
                connector = ZoomConnector(ref_of(zoom.stream), config.zoom, known=hints or ())
                live = LiveSession(connector, config, store, analyze_factory=RecordingAnalyzer, render=None)
                runner = asyncio.ensure_future(live.run())
                await scenario(zoom, live)
                await asyncio.wait_for(runner, 20)
                lives.append(live)
                if scenario is first:
                    assert zoom.live and zoom.log.stream_close_requests == 0  # the class's stream survives
            return lives[0], lives[1]
        finally:
            await zoom.close()

    one, two = asyncio.run(main())
    assert one.state is State.DONE and two.state is State.DONE, (one.lifecycle.detail, two.lifecycle.detail)
    assert 21 not in [m["msg_type"] for m in zoom.log.signaling]
    assert zoom.log.signaling_connections == 2 and zoom.log.ended == 6
    assert sorted(known) == [("1", "Ada Lovelace"), ("2", "Grace Hopper")]
    assert seen_on_video(store, two.session_id) == {"Ada Lovelace", "Grace Hopper"}
    store.close()


def test_a_revoked_stream_deletes_the_class_data(tmp_path: Path, frames: list[list[bytes]]) -> None:
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(1, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(1, 0) >= 5)
        await until(lambda: live.store.count_observations(live.session_id) > 0)  # something was stored
        await zoom.revoke()

    live, store, _ = run_session(tmp_path, zoom, scenario)
    assert live.state is State.DONE and live.data_deleted
    assert live.session_id not in {s.session_id for s in store.sessions()}
    assert store.count_observations(live.session_id) == 0 and store.participants(live.session_id) == []
    assert not live.out_dir.exists()
    store.close()


def test_a_dropped_signaling_socket_is_reopened_inside_zooms_window(tmp_path: Path,
                                                                   frames: list[list[bytes]]) -> None:
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(1, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(1, 0) >= 3)
        await zoom.drop_signaling()
        await until(lambda: zoom.log.signaling_connections == 2 and zoom.log.media_connections == 2)
        sent = zoom.log.video_sent[1]
        await until(lambda: zoom.log.video_sent[1] >= sent + 3)  # re-subscribed on the new signaling socket
        await zoom.stop()

    live, store, _ = run_session(tmp_path, zoom, scenario)
    assert live.state is State.DONE and live.reconnects >= 1
    assert isinstance(live.connector, ZoomConnector) and live.connector.signal_reconnects == 1
    assert zoom.log.ended == 6 and 21 not in [m["msg_type"] for m in zoom.log.signaling]
    store.close()


def test_no_keepalive_for_too_long_redoes_the_handshake(tmp_path: Path, frames: list[list[bytes]]) -> None:
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(1, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(1, 0) >= 3)
        zoom.silence_keepalives()  # the signaling socket goes quiet (half-dead connection)
        await until(lambda: zoom.log.signaling_connections == 2)
        zoom.silence_keepalives(False)
        sent = zoom.log.video_sent[1]
        await until(lambda: zoom.log.video_sent[1] >= sent + 3)
        await zoom.stop()

    live, store, _ = run_session(tmp_path, zoom, scenario, keepalive_timeout_s=1.5)
    assert live.state is State.DONE and isinstance(live.connector, ZoomConnector)
    assert live.connector.signal_reconnects == 1
    store.close()


def test_a_signaling_socket_not_back_in_time_ends_as_connection_lost(tmp_path: Path,
                                                                     frames: list[list[bytes]]) -> None:
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3, signal_grace_s=0.1)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(1, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(1, 0) >= 3)
        await zoom.drop_signaling(down_for_s=0.5)  # Zoom gives up after 0.1 s, the network is back at 0.5 s

    live, store, _ = run_session(tmp_path, zoom, scenario, reconnect_backoff_s=0.2)
    assert live.state is State.DONE and live._leave_reason is LeaveReason.CONNECTION_LOST
    assert zoom.log.ended == 19 and (2, 2) in zoom.log.refusals  # stream gone: INVALID_RTMS_STREAM_ID
    assert store.count_observations(live.session_id) > 0  # what was collected is kept
    store.close()


def test_a_dropped_media_socket_is_reopened_and_video_resumes(tmp_path: Path, frames: list[list[bytes]]) -> None:
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(1, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(1, 0) > 2)
        await zoom.drop_media()  # Zoom announces it with event 7 on the signaling socket
        await until(lambda: zoom.log.media_connections == 2)
        sent = zoom.log.video_sent[1]
        await until(lambda: zoom.log.video_sent[1] > sent + 2)
        await zoom.stop()

    live, store, _ = run_session(tmp_path, zoom, scenario)
    assert live.state is State.DONE and live.reconnects >= 1
    assert isinstance(live.connector, ZoomConnector) and live.connector.media_reconnects == 1
    assert [m["msg_type"] for m in zoom.log.signaling].count(7) == 2  # a ready ack per media connection
    assert zoom.log.signaling_connections == 1
    store.close()


@pytest.mark.parametrize("legacy", [False, True])
def test_wrong_stream_signature_fails_with_the_reason_in_both_numberings(tmp_path: Path, legacy: bool) -> None:
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, legacy_status=legacy)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        pass

    live, store, _ = run_session(tmp_path, zoom, scenario, secret="not-the-secret")
    assert live.state is State.FAILED and live.lifecycle.failure is FailureReason.WRONG_SECRET
    assert f"status {15 if legacy else 3} (INVALID_SIGNATURE" in live.lifecycle.detail
    assert "not-the-secret" not in live.lifecycle.detail
    assert zoom.log.media == []  # never got as far as the media socket
    store.close()


@pytest.mark.parametrize("legacy", [False, True])
def test_a_second_client_on_the_same_stream_is_not_admitted(tmp_path: Path, legacy: bool) -> None:
    config = make_config(tmp_path)

    async def main() -> tuple[LiveSession, FakeZoom]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, legacy_status=legacy)
        ref = ref_of(await zoom.start())
        first = ZoomConnector(ref, config.zoom)
        await first.join()
        try:
            live = LiveSession(ZoomConnector(ref, config.zoom), config, Store(config.store.url),
                               analyze_factory=RecordingAnalyzer, render=None)
            await live.run()
        finally:
            await first.leave()
            await zoom.close()
        return live, zoom

    live, zoom = asyncio.run(main())
    assert live.lifecycle.failure is FailureReason.NOT_ADMITTED, live.lifecycle.detail
    assert "DUPLICATE_SIGNAL_REQUEST" in live.lifecycle.detail
    assert zoom.log.refusals == [(2, 17 if legacy else 8)]


def test_nothing_listening_is_meeting_not_found(tmp_path: Path) -> None:
    config = make_config(tmp_path)

    async def main() -> LiveSession:
        connector = ZoomConnector(StreamRef("m", "s", "ws://127.0.0.1:9/signaling"), config.zoom)
        live = LiveSession(connector, config, Store(config.store.url), analyze_factory=RecordingAnalyzer,
                           render=None)
        await live.run()
        return live

    live = asyncio.run(main())
    assert live.lifecycle.failure is FailureReason.MEETING_NOT_FOUND and "signaling socket" in live.lifecycle.detail


def test_end_stream_is_the_only_way_to_close_the_stream(tmp_path: Path, frames: list[list[bytes]]) -> None:
    config = make_config(tmp_path)

    async def main() -> tuple[FakeZoom, bool]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        connector = ZoomConnector(ref_of(await zoom.start()), config.zoom)
        try:
            await connector.join()
            await until(zoom.events_ready)
            acknowledged = await connector.end_stream()  # the teacher stopped the analysis
            await connector.leave()
            return zoom, acknowledged
        finally:
            await zoom.close()

    zoom, acknowledged = asyncio.run(main())
    assert acknowledged and zoom.log.stream_close_requests == 1 and zoom.log.ended == 20
    close = next(m for m in zoom.log.signaling if m["msg_type"] == 21)
    assert close == {"msg_type": 21, "rtms_stream_id": zoom.stream_id}


def test_h264_video_is_decoded_per_student(tmp_path: Path, videos_dir: Path) -> None:
    from bot.connectors.zoom_fake import h264_packets

    clips = sorted(videos_dir.glob("liveportrait_driving_*.mp4"))[:2]
    try:
        streams = [h264_packets(str(c), count=10) for c in clips]
    except Exception as exc:  # PyAV without libx264
        pytest.skip(f"cannot encode H.264 here: {exc}")
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(1, "Ada Lovelace", [], h264=streams[0])
        await zoom.join(2, "Alan Turing", [], h264=streams[1])
        await until(lambda: zoom.log.subscriptions.count(1) >= 2 and zoom.log.subscriptions.count(2) >= 2)
        await zoom.stop()

    live, store, analyze = run_session(tmp_path, zoom, scenario, codec="h264", fps=10)
    assert live.state is State.DONE
    assert zoom.log.granted[0]["codec"] == 7 and zoom.log.media[0]["media_params"]["video"]["fps"] == 10
    for pid, name in names_of(store, live.session_id).items():
        shapes = {s.frame.shape for s in analyze.frames_of(pid) if s.frame is not None}
        assert shapes and all(sh[1] == 320 for sh in shapes), name  # decoded pictures of every student
    store.close()


def test_the_codec_zoom_grants_is_the_codec_decoded(tmp_path: Path, frames: list[list[bytes]]) -> None:
    """H.264 at 5 fps is asked as 6 fps (H.264 is granted only above 5); whatever Zoom grants
    in msg_type 4 — here JPG at 5 fps — is what gets decoded."""
    zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
    zoom.grant_override = {"codec": 5, "fps": 5}

    async def scenario(zoom: FakeZoom, live: LiveSession) -> None:
        await until(zoom.events_ready)
        await zoom.join(1, "Ada Lovelace", frames[0])
        await until(lambda: zoom.log.video_sent.get(1, 0) >= 3)
        await zoom.stop()

    live, store, _ = run_session(tmp_path, zoom, scenario, codec="h264", fps=5)
    assert zoom.log.media[0]["media_params"]["video"] == {"codec": 7, "resolution": 1, "data_opt": 4, "fps": 6}
    assert isinstance(live.connector, ZoomConnector) and live.connector.codec == 5
    assert seen_on_video(store, live.session_id) == {"Ada Lovelace"}
    store.close()


MEETING_NUMBER = "81234567890"  # what started_payload() sends as meeting_id


@contextlib.asynccontextmanager
async def zoom_service(config: Config, analyze: Any = RecordingAnalyzer, render: Render | None = None,
                       mapped: bool = True) -> AsyncIterator[tuple[web.Application, str]]:
    """The service (the same app as `serve` and `zoom-webhook`) with Zoom's webhook route, on a real port;
    `mapped`: a class of Ms Rivera's is mapped to the fake's meeting number (once per database)."""
    app = create_app(config, analyze_factory=analyze, render=render)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    if mapped and app[db_key].class_for_zoom_meeting(MEETING_NUMBER) is None:
        app[db_key].add_class(ClassRecord(class_id="cls-zoom", name="Zoom maths", owner="ms-rivera",
                                          created_at="2026-11-26T09:00:00+00:00", zoom_meeting_id=MEETING_NUMBER))
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield app, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_a_class_started_and_stopped_by_webhooks(tmp_path: Path, frames: list[list[bytes]]) -> None:
    config = make_config(tmp_path, interval_s=0.2)
    analyze = RecordingAnalyzer()

    async def main() -> tuple[Outcome, dict[str, Any]]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        stream = await zoom.start()
        zoom.add_present(101, "Ada Lovelace", frames[0])
        try:
            async with zoom_service(config, lambda: analyze) as (app, base):
                url = f"{base}/zoom/hook"
                sessions = app[manager_key]
                sid = session_id_for(stream.rtms_stream_id)
                status, _ = await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(stream))
                assert status == 200
                retry, _ = await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(stream))
                await until(lambda: sid in sessions.running)
                await asyncio.sleep(0.2)
                assert retry == 200 and list(sessions.running) == [sid]  # a retried webhook is not a second session
                await until(zoom.events_ready)
                await zoom.speak(101)
                await zoom.join(102, "Grace Hopper", frames[1])
                await until(lambda: all(zoom.log.video_sent.get(u, 0) >= 3 for u in (101, 102)))
                status, _ = await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_stopped",
                                               {**started_payload(stream), "stop_reason": 6})
                assert status == 200
                outcome = await asyncio.wait_for(sessions.wait(sid), 15)
                assert outcome is not None
                # an ordinary service session: listed with its owner, attempts and all
                token = create_token(app[db_key], "admin", Role.ADMIN)[1]
                async with aiohttp.ClientSession() as http, \
                        http.get(f"{base}/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {token}"}) as r:
                    listed = await r.json()
                return outcome, listed
        finally:
            await zoom.close()

    outcome, listed = asyncio.run(main())
    result = outcome.result
    assert result is not None and outcome.state == "done"
    assert result.state is State.DONE and result.leave_reason is LeaveReason.MEETING_ENDED, result
    assert listed["owner"] == "ms-rivera" and listed["class_id"] == "cls-zoom" and listed["origin"] == "zoom"
    assert listed["state"] == "done" and listed["class_name"] == "Zoom maths"
    assert [a["end_reason"] for a in listed["attempts"]] == ["done"]
    store = Store(config.store.url)
    info = store.session(result.session_id)
    assert info.sampling.startswith("rotation over students") and "Zoom meeting" in info.source
    assert seen_on_video(store, result.session_id) == {"Ada Lovelace", "Grace Hopper"}
    store.close()


def test_a_revoke_webhook_deletes_a_running_class(tmp_path: Path, frames: list[list[bytes]]) -> None:
    config = make_config(tmp_path)

    async def main() -> tuple[Outcome, str]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        stream = await zoom.start()
        try:
            async with zoom_service(config) as (app, base):
                url, sid = f"{base}/zoom/hook", session_id_for(stream.rtms_stream_id)
                await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(stream))
                await until(zoom.events_ready)
                await zoom.join(1, "Ada Lovelace", frames[0])
                store = app[manager_key].store
                await until(lambda: store.count_observations(sid) > 0)
                await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_stopped",
                                   {**started_payload(stream), "stop_reason": 8})  # the webhook came first
                outcome = await asyncio.wait_for(app[manager_key].wait(sid), 15)
                assert outcome is not None
                record = app[db_key].session(sid)
                assert record is not None
                return outcome, record.failure
        finally:
            await zoom.close()

    outcome, failure = asyncio.run(main())
    assert outcome.result is not None and outcome.result.data_deleted and failure == "revoked"
    store = Store(config.store.url)
    assert outcome.session_id not in {s.session_id for s in store.sessions()}
    assert store.count_observations(outcome.session_id) == 0
    store.close()


@pytest.mark.slow
def test_real_analyser_finds_the_students_faces_and_renders_the_report(tmp_path: Path,
                                                                       frames: list[list[bytes]]) -> None:
    config = Config.model_validate({
        **make_config(tmp_path, interval_s=0.5).model_dump(mode="python", exclude={"zoom"}),
        "reports": {"out_dir": str(tmp_path / "reports"), "formats": ["html"]},
        "session": {"join_timeout_s": 5, "empty_timeout_s": 5, "nobody_timeout_s": 60, "media_timeout_s": 60},
        "zoom": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "dwell_s": 1.5,
                 "allow_private_server_urls": True},
    })
    store = Store(config.store.url)

    async def main() -> LiveSession:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.5, send_fps=5)
        zoom.add_present(1, "Ada Lovelace", frames[0])
        zoom.add_present(2, "Alan Turing", frames[1])
        connector = ZoomConnector(ref_of(await zoom.start()), config.zoom, sample_interval_s=0.5)
        live = LiveSession(connector, config, store, class_name="Zoom maths")
        try:
            runner = asyncio.ensure_future(live.run())
            await asyncio.wait_for(live.in_class.wait(), 120)  # includes loading the model
            await zoom.speak(1)
            await zoom.speak(2)

            def both_sampled() -> bool:  # a busy machine drops ticks: wait for samples, not for time
                counts = live.sampler.participants() if live.sampler is not None else {}
                return len(counts) == 2 and all(c["samples"] >= 4 for c in counts.values())

            await until(both_sampled, 150)
            await zoom.stop()
            await asyncio.wait_for(runner, 120)
        finally:
            await zoom.close()
        return live

    live = asyncio.run(main())
    assert live.state is State.DONE, live.lifecycle.detail
    assert not live.report_error, live.report_error
    names = names_of(store, live.session_id)
    present = {names[o.participant_id] for o in store.observations(live.session_id) if o.state is ObsState.PRESENT}
    assert present == {"Ada Lovelace", "Alan Turing"}
    html = next(p for p in live.reports if p.name.endswith(".html") and "class" in p.name).read_text()
    assert "Ada Lovelace" in html and "Alan Turing" in html and "rotation over students" in html
    info = store.session(live.session_id)  # what the session ran with, for reports and term trends
    assert info.model_version and info.model_version != "unknown" and '"detector"' in info.settings
    store.close()


def test_a_revoke_after_the_class_ended_deletes_the_stored_class(tmp_path: Path, frames: list[list[bytes]]) -> None:
    config = make_config(tmp_path)

    def render(store: Store, session_id: str, out_dir: Path, formats: object, paper: str = "a4",
               **roster: object) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "class.html").write_text(session_id)
        return [out_dir / "class.html"]

    async def main() -> tuple[str, Path, str]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        stream = await zoom.start()
        try:
            async with zoom_service(config, render=render) as (app, base):
                url, sid = f"{base}/zoom/hook", session_id_for(stream.rtms_stream_id)
                await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(stream))
                await until(zoom.events_ready)
                await zoom.join(1, "Ada Lovelace", frames[0])
                await until(lambda: zoom.log.video_sent.get(1, 0) >= 3)
                await zoom.stop()
                outcome = await asyncio.wait_for(app[manager_key].wait(sid), 15)
                assert outcome is not None and outcome.reports and outcome.reports[0].exists()
                await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_stopped",
                                   {**started_payload(stream), "stop_reason": 8})  # revoked afterwards
                await until(lambda: not outcome.reports[0].exists()
                            and getattr(app[db_key].session(sid), "failure", "") == "revoked")
                record = app[db_key].session(sid)
                assert record is not None
                return sid, outcome.reports[0], record.failure
        finally:
            await zoom.close()

    sid, report, failure = asyncio.run(main())
    assert not report.exists() and failure == "revoked"
    store = Store(config.store.url)
    assert sid not in {s.session_id for s in store.sessions()}
    store.close()


@pytest.mark.parametrize("fallback", ["", "zoom-admin"])
def test_only_meetings_mapped_to_a_class_are_analysed(tmp_path: Path, fallback: str) -> None:
    """Auto-start streams every meeting of the account: an unmapped meeting is ignored (or, with the
    explicit `zoom.owner` fallback, analysed for that owner); a mapped one belongs to its class."""
    config = make_config(tmp_path, owner=fallback)

    async def main() -> tuple[list[str], dict[str, str]]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        stream = await zoom.start()
        try:
            async with zoom_service(config) as (app, base):
                url = f"{base}/zoom/hook"
                other = {**started_payload(stream, meeting_id=99988877766), "rtms_stream_id": "other-stream"}
                unnamed = {**started_payload(stream, meeting_id=None), "rtms_stream_id": "older-server"}
                for payload in (other, unnamed):
                    assert (await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", payload))[0] == 200
                await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(stream))
                sid = session_id_for(stream.rtms_stream_id)
                await until(lambda: app[db_key].session(sid) is not None)
                await asyncio.sleep(0.3)
                rows = app[db_key].sessions()[0]
                owners = {r.session_id: r.owner for r in rows}
                for r in rows:
                    app[manager_key].leave(r.session_id)
                return [r.session_id for r in rows], owners
        finally:
            await zoom.close()

    sids, owners = asyncio.run(main())
    mapped = session_id_for("03db704592624398931a588dd78200cb")
    assert owners[mapped] == "ms-rivera"
    if fallback:
        assert sorted(sids) == sorted([mapped, session_id_for("other-stream"), session_id_for("older-server")])
        assert {owners[session_id_for(s)] for s in ("other-stream", "older-server")} == {"zoom-admin"}
    else:
        assert sids == [mapped]


def test_zoom_moving_the_stream_to_another_server_reconnects_the_same_session(tmp_path: Path,
                                                                               frames: list[list[bytes]]) -> None:
    config = make_config(tmp_path)

    async def main() -> tuple[Outcome, FakeZoom, str]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        stream = await zoom.start()
        zoom.add_present(101, "Ada Lovelace", frames[0])
        try:
            async with zoom_service(config) as (app, base):
                url, sid = f"{base}/zoom/hook", session_id_for(stream.rtms_stream_id)
                await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(stream))
                await until(zoom.events_ready)
                await zoom.speak(101)
                await until(lambda: zoom.log.video_sent.get(101, 0) >= 3)
                moved = await zoom.fail_over()  # the old server is gone; Zoom announces the new one
                await asyncio.sleep(0.3)
                assert zoom.log.signaling_connections == 1  # nothing answers at the old address
                await send_webhook(url, WEBHOOK_SECRET, "meeting.rtms_started", started_payload(moved))
                await until(lambda: zoom.log.signaling_connections == 2)
                sent = zoom.log.video_sent.get(101, 0)
                await until(lambda: zoom.log.video_sent.get(101, 0) >= sent + 3)
                await zoom.stop()
                outcome = await asyncio.wait_for(app[manager_key].wait(sid), 15)
                record = app[db_key].session(sid)
                assert outcome is not None and record is not None
                assert [a.end_reason for a in app[db_key].attempts(sid)] == ["done"]  # one attempt: same session
                return outcome, zoom, record.meeting_url
        finally:
            await zoom.close()

    outcome, zoom, meeting_url = asyncio.run(main())
    assert outcome.state == "done"
    assert zoom.base.split("//")[1] in meeting_url.replace("%3A", ":")  # a resumed attempt would go there too
    assert zoom.log.stream_close_requests == 0
    store = Store(config.store.url)
    assert seen_on_video(store, outcome.session_id) == {"Ada Lovelace"}
    store.close()


def test_a_crashed_service_resumes_the_class_knowing_who_zoom_will_not_announce(tmp_path: Path,
                                                                                frames: list[list[bytes]]) -> None:
    """Two students present before the stream, named once by speaking; the service dies mid-class.
    The next service resumes the session in a new attempt: Zoom announces nobody again, yet both
    are watched under their names because the attempt started with the people the first one knew."""
    config = make_config(tmp_path)
    dead = f"{socket.gethostname()}:999999999:1"

    async def main() -> tuple[Outcome, FakeZoom, dict[int, int], list[tuple[str, str]]]:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        stream = await zoom.start()
        zoom.add_present(1, "Ada Lovelace", frames[0])
        zoom.add_present(2, "Alan Turing", frames[1])
        sid = session_id_for(stream.rtms_stream_id)
        try:
            async with zoom_service(config) as (app, base):
                await send_webhook(f"{base}/zoom/hook", WEBHOOK_SECRET, "meeting.rtms_started",
                                   started_payload(stream))
                await until(zoom.events_ready)
                await zoom.speak(1)
                await zoom.speak(2)
                db = app[db_key]
                await until(lambda: len(people_of(getattr(db.session(sid), "known_people", ""))) == 2, 10)
                kept = people_of(db.session(sid).known_people)  # type: ignore[union-attr]
                # the process dies: its task is gone, its attempt left open under a dead holder
                running = app[manager_key].running[sid]
                running.task.cancel()
                await asyncio.gather(running.task, return_exceptions=True)
                with db.engine.begin() as conn:
                    conn.execute(sa.update(tables.attempts).where(tables.attempts.c.session_id == sid)
                                 .values(holder=dead))
            before = dict(zoom.log.video_sent)
            async with zoom_service(config) as (app, _):  # recovers at start-up
                await until(lambda: all(zoom.log.video_sent.get(u, 0) >= before.get(u, 0) + 3 for u in (1, 2)), 15)
                await zoom.stop()
                outcome = await asyncio.wait_for(app[manager_key].wait(sid), 15)
                assert outcome is not None
                return outcome, zoom, before, kept
        finally:
            await zoom.close()

    outcome, zoom, _, kept = asyncio.run(main())
    assert sorted(kept) == [("1", "Ada Lovelace"), ("2", "Alan Turing")]
    assert zoom.log.stream_close_requests == 0 and zoom.log.signaling_connections == 2
    assert outcome.state == "done"
    store = Store(config.store.url)
    assert set(names_of(store, outcome.session_id).values()) == {"Ada Lovelace", "Alan Turing"}  # no duplicates
    assert store.interruptions(outcome.session_id)[0].reason == "crash"
    store.close()
    db = ServiceStore(Store(config.store.url))
    assert db.session(outcome.session_id).known_people == ""  # type: ignore[union-attr]  # names not kept after


def test_an_explicit_join_of_a_stream_is_analysed_without_a_class(tmp_path: Path, frames: list[list[bytes]]) -> None:
    """`classpulse join 'zoom:?…'` is the operator's choice: no class mapping is asked for."""
    config = make_config(tmp_path)

    async def main() -> Outcome:
        zoom = FakeZoom(CLIENT_ID, CLIENT_SECRET, keepalive_s=0.3)
        stream = await zoom.start()
        zoom.add_present(1, "Ada Lovelace", frames[0])

        async def drive() -> None:
            await until(zoom.events_ready)
            await zoom.speak(1)
            await until(lambda: zoom.log.video_sent.get(1, 0) >= 3)
            await zoom.stop()

        try:
            driver = asyncio.ensure_future(drive())
            outcome = await run_join(stream_url(ref_of(stream)), config, render=False, out=io.StringIO(),
                                     analyze_factory=RecordingAnalyzer)
            await driver
            return outcome
        finally:
            await zoom.close()

    outcome = asyncio.run(main())
    assert outcome.state == "done"
    store = Store(config.store.url)
    assert seen_on_video(store, outcome.session_id) == {"Ada Lovelace"}
    store.close()
