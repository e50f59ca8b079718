"""`classpulse join 'zoom:…'` as a subprocess against a stream server built from Zoom's docs only.

The server (tests/zoom_docs_server.py) was written from Zoom's published RTMS material without
looking at the connector or its own fake. A class of four, nobody's join replayed:

- Ada is in the meeting before the stream starts, camera on; Zoom tells nothing but that she
  is the active speaker (event 2 carries her id and name).
- Ben is in the meeting before the stream starts, camera off; he turns it on (event 8, an
  integer id, no name: his name arrives only on his video frames).
- Dan joins (event 3, integer id), turns his camera on, later off (event 9).
- Cleo joins late (event 3 with the id written as a string, as Zoom's join example shows),
  then turns her camera on (event 8, the same id as an integer).

Real face frames (JPEG of the shared face clips) are sent only for the subscribed student, only
after CLIENT_READY_ACK. The meeting ends with Zoom's stream-terminated message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from analysis.records import SessionInfo, State
from analysis.store import Store, StoreError
from bot.db.records import ClassRecord
from bot.db.store import ServiceStore
from tests.zoom_docs_server import (
    STREAM_CLOSE_REQ,
    DocsRtmsServer,
    Record,
    Step,
    Student,
    jpeg_frames,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "docs-client-id", "docs-client-secret"
MEETING_UUID = "4nYtdqLVTVqGJ+QB/62ED7Q=="  # the shape of a real meeting UUID: + / = need quoting
STREAM_ID = "03db704592624398931a588dd78200cb"
MEETING_NUMBER = 81234567890
WEBHOOK_SECRET = "docs-webhook-secret-token"
ADA, BEN, CLEO, DAN = 16778240, 33556610, 50331648, 67108864
NAMES = {ADA: "Ada Lovelace", BEN: "Ben Okafor", CLEO: "Cleo Diaz", DAN: "Dan Weber"}
END_S = 60.0  # long enough for a slow machine to load the analyser (~15-20 s here) and still rotate
KEEPALIVE_S = 10.0  # Zoom's documented interval


class ServerThread:
    """The docs server on its own event loop, so the test can block on the CLI subprocess."""

    def __init__(self, server: DocsRtmsServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self.started.set()
        self.loop.run_forever()

    def __enter__(self) -> DocsRtmsServer:
        self.thread.start()
        assert self.started.wait(30), "docs server did not start"
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture
def docs_server(request: pytest.FixtureRequest, videos_dir: Path) -> Iterator[DocsRtmsServer]:
    """The class above; `indirect` param "drop": Zoom loses the signaling connection at 16 s."""
    clips = sorted(str(p) for p in videos_dir.glob("*.mp4"))[:4]
    students = [Student(uid, NAMES[uid], jpeg_frames(clips[i % len(clips)]))
                for i, uid in enumerate((ADA, BEN, CLEO, DAN))]
    students[1].camera_on = False  # Ben: present, camera off when the stream starts
    steps = [
        Step(1.0, "speaker", ADA),
        Step(2.0, "video_on", BEN),
        Step(4.0, "join", DAN),
        Step(4.5, "video_on", DAN),
        Step(8.0, "join", CLEO, id_as_text=True),
        Step(8.5, "video_on", CLEO),
        Step(30.0, "pause"),  # the host pauses the app's stream for 3 s
        Step(33.0, "resume"),
        Step(40.0, "video_off", DAN),
    ]
    if getattr(request, "param", "") == "drop":
        steps.append(Step(16.0, "drop"))
    server = DocsRtmsServer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, meeting_uuid=MEETING_UUID,
                            stream_id=STREAM_ID, students=students, present=[ADA, BEN], steps=steps,
                            end_after_s=END_S, keepalive_s=KEEPALIVE_S)
    with ServerThread(server) as running:
        yield running


def _join_url(server: DocsRtmsServer) -> str:
    """The operator's `zoom:` URL; the meeting UUID's + / = are percent-encoded as in any query."""
    return ("zoom:?meeting_uuid=" + quote(MEETING_UUID, safe="") + "&rtms_stream_id=" + STREAM_ID
            + "&server_urls=" + quote(server.url, safe=""))


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "CLASSPULSE_ZOOM__CLIENT_ID": CLIENT_ID,
            "CLASSPULSE_ZOOM__CLIENT_SECRET": CLIENT_SECRET, "CLASSPULSE_ZOOM__ALLOW_PRIVATE_SERVER_URLS": "true",
            **extra}


def _sets(tmp_path: Path) -> list[str]:
    sets = [f"store.url=sqlite:///{tmp_path}/cp.db", f"reports.out_dir={tmp_path}/reports",
            "reports.formats=[html]", "analysis.emotions=off", "store.flush_s=0.5"]
    return [x for s in sets for x in ("--set", s)]


def _dump(record: Record, tmp_path: Path) -> None:
    """Everything the client sent (signatures left out), for a human reading a failure."""
    (tmp_path / "received.jsonl").write_text("".join(
        json.dumps([t, which, {k: v for k, v in m.items() if k != "signature"}]) + "\n"
        for t, which, m in record.received))


def _stored_states(tmp_path: Path) -> tuple[list[SessionInfo], dict[str, dict[str, int]]]:
    """The sessions in the store and {display name: {state: samples}} over all of them."""
    store = Store(f"sqlite:///{tmp_path}/cp.db", create=False)
    try:
        sessions = store.sessions()
        states: dict[str, dict[str, int]] = {}
        for session in sessions:
            names = {p.participant_id: p.display_name for p in store.participants(session.session_id)}
            for o in store.observations(session.session_id):
                by_state = states.setdefault(names[o.participant_id], {})
                by_state[o.state.value] = by_state.get(o.state.value, 0) + 1
    finally:
        store.close()
    return sessions, states


def _check_class(record: Record, tmp_path: Path, log: str) -> None:
    """What the outside check asks: all four analysed under the right names, keep-alives answered
    within Zoom's interval on both sockets, no stream close, no protocol error, a closed session."""
    assert record.ready_at is not None, "the client never sent CLIENT_READY_ACK on signaling:\n" + log[-3000:]
    assert record.ended_at is not None, "the stream did not run to its end:\n" + log[-3000:]
    closes = [(t, which) for t, which, m in record.received if m.get("msg_type") == STREAM_CLOSE_REQ]
    assert closes == [], f"STREAM_CLOSE_REQ sent although Zoom ended the stream itself: {closes}"
    for which in ("signaling", "media"):
        sent = record.keepalive_sent.get(which, [])
        assert len(sent) >= 3, f"{which}: only {len(sent)} keep-alive requests in a {END_S:.0f} s class"
        answered = record.keepalive_answered.get(which, {})
        for t, stamp in sent:
            if stamp not in answered and t > record.ended_at - 1.0:
                continue  # sent just before Zoom closed the sockets: no time to answer
            assert stamp in answered, f"{which}: keep-alive of t={t} never answered"
            assert answered[stamp] - t < KEEPALIVE_S, f"{which}: keep-alive of t={t} answered late"
    assert set(record.frames_sent) == set(NAMES), f"frames sent per student: {record.frames_sent}"
    sessions, states = _stored_states(tmp_path)
    assert len(sessions) == 1, sessions
    assert sessions[0].ended_at, "the session was not closed"
    assert set(NAMES.values()) <= set(states), f"stored names: {sorted(states)}"
    for name in NAMES.values():
        assert states[name].get(State.PRESENT.value, 0) > 0, f"{name} never analysed with a face: {states}"
    assert states[NAMES[DAN]].get(State.CAMERA_OFF.value, 0) > 0, f"Dan's camera-off not recorded: {states}"
    assert record.errors == [], f"protocol errors seen by the docs server: {record.errors}"


@pytest.mark.parametrize("docs_server", ["", "drop"], indirect=True)
def test_join_four_students_without_replay(docs_server: DocsRtmsServer, tmp_path: Path) -> None:
    """`classpulse join 'zoom:?…'`, the operator's explicit choice of stream; with "drop" the
    signaling connection is lost mid-class and must be re-established inside Zoom's minute,
    the class knowing who Zoom will not announce again."""
    cmd = [sys.executable, "-m", "bot", *_sets(tmp_path), "join", _join_url(docs_server),
           "--class-name", "Docs conformance"]
    log = tmp_path / "join.log"
    with log.open("wb") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                              timeout=END_S + 240)
    text = log.read_text(errors="replace")
    _dump(docs_server.record, tmp_path)
    assert proc.returncode == 0, f"join exited {proc.returncode}:\n{text[-3000:]}"
    _check_class(docs_server.record, tmp_path, text)
    record = docs_server.record
    assert record.handshakes == 1 + len(record.dropped_at), (record.handshakes, record.dropped_at)


def _zoom_signed(secret: str, body: bytes, timestamp: str) -> str:
    """zoom/webhook-sample index.js: "v0=" + hex HMAC-SHA256(secret token, "v0:{ts}:{body}")."""
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def _post_webhook(url: str, event: str, payload: dict[str, Any]) -> tuple[int, Any]:
    body = json.dumps({"event": event, "event_ts": int(time.time() * 1000), "payload": payload}).encode()
    stamp = str(int(time.time()))
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "x-zm-request-timestamp": stamp,
        "x-zm-signature": _zoom_signed(WEBHOOK_SECRET, body, stamp)})
    with urllib.request.urlopen(req, timeout=30) as res:
        raw = res.read()
        return res.status, json.loads(raw) if raw.strip().startswith(b"{") else raw


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(check: Any, within_s: float, what: str) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not reached within {within_s:g} s: {what}")


@pytest.mark.parametrize("stopped_first", [False, True])
def test_webhook_four_students_without_replay(docs_server: DocsRtmsServer, tmp_path: Path,
                                              stopped_first: bool) -> None:
    """`classpulse zoom-webhook` with a class mapped to the meeting: Zoom's signed
    `meeting.rtms_started` opens the session, the stream's end closes it; SIGTERM afterwards
    sends no stream close either. `stopped_first`: `meeting.rtms_stopped` arrives 5 s before the
    stream's own end (webhooks and sockets are not ordered): the session ends, without a
    STREAM_CLOSE_REQ."""
    store = Store(f"sqlite:///{tmp_path}/cp.db")
    ServiceStore(store).add_class(ClassRecord(class_id="cls-docs", name="Docs conformance", owner="ms-rivera",
                                              created_at="2026-11-26T09:00:00+00:00",
                                              zoom_meeting_id=str(MEETING_NUMBER)))
    store.close()
    port = _free_port()
    log = tmp_path / "webhook.log"
    cmd = [sys.executable, "-m", "bot", *_sets(tmp_path), "zoom-webhook", "--host", "127.0.0.1",
           "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_env(CLASSPULSE_ZOOM__WEBHOOK_SECRET=WEBHOOK_SECRET),
                                stdout=out, stderr=subprocess.STDOUT)
    hook = f"http://127.0.0.1:{port}/zoom/webhook"
    try:
        def up() -> bool:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                return True
            except OSError:
                return proc.poll() is not None
        _until(up, 120, "zoom-webhook listening")
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        # zoom/webhook-sample: the challenge is answered with HMAC-SHA256(secret token, plainToken)
        status, answer = _post_webhook(hook, "endpoint.url_validation", {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"})
        assert status == 200 and answer == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": hmac.new(
            WEBHOOK_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()}, answer
        # developers.zoom.us/docs/api/rtms/events "meeting.rtms_started"; meeting_id and account_id
        # from the RTMS April release changelog (the meeting number, as Zoom's meeting events write it)
        started = {"meeting_uuid": MEETING_UUID, "rtms_stream_id": STREAM_ID, "server_urls": docs_server.url,
                   "meeting_id": MEETING_NUMBER, "account_id": "AbCdEfGhIj", "is_original_host": True,
                   "operator_id": "30R7kT7bTIKSNUFEuH_Qlg"}
        status, _ = _post_webhook(hook, "meeting.rtms_started", started)
        assert status == 200
        if stopped_first:
            ready = _until(lambda: docs_server.record.ready_at, 120, "the client ready")
            _until(lambda: docs_server.t() > ready + END_S - 5, END_S + 10, "the class nearly over")
            status, _ = _post_webhook(hook, "meeting.rtms_stopped", {**started, "stop_reason": 6})
            assert status == 200
        _until(lambda: docs_server.record.ended_at is not None, END_S + 180, "the class ran to its end")
        if not stopped_first:
            status, _ = _post_webhook(hook, "meeting.rtms_stopped", {**started, "stop_reason": 6})
            assert status == 200

        def closed() -> bool:
            try:
                sessions, _ = _stored_states(tmp_path)
            except StoreError:  # not written yet
                return False
            return bool(sessions) and all(s.ended_at for s in sessions)
        _until(closed, 120, "the session closed in the store")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    text = log.read_text(errors="replace")
    _dump(docs_server.record, tmp_path)
    _check_class(docs_server.record, tmp_path, text)
