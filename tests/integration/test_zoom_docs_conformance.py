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
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from analysis.records import State
from analysis.store import Store
from tests.zoom_docs_server import (
    KEEP_ALIVE_RESP,
    STREAM_CLOSE_REQ,
    DocsRtmsServer,
    Step,
    Student,
    jpeg_frames,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "docs-client-id", "docs-client-secret"
MEETING_UUID = "4nYtdqLVTVqGJ+QB/62ED7Q=="  # the shape of a real meeting UUID: + / = need quoting
STREAM_ID = "03db704592624398931a588dd78200cb"
ADA, BEN, CLEO, DAN = 16778240, 33556610, 50331648, 67108864
NAMES = {ADA: "Ada Lovelace", BEN: "Ben Okafor", CLEO: "Cleo Diaz", DAN: "Dan Weber"}
END_S = 45.0
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
def docs_server(videos_dir: Path) -> Iterator[DocsRtmsServer]:
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
        Step(26.0, "video_off", DAN),
    ]
    server = DocsRtmsServer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, meeting_uuid=MEETING_UUID,
                            stream_id=STREAM_ID, students=students, present=[ADA, BEN], steps=steps,
                            end_after_s=END_S, keepalive_s=KEEPALIVE_S)
    with ServerThread(server) as running:
        yield running


def test_four_students_without_replay_against_the_docs_server(docs_server: DocsRtmsServer, tmp_path: Path) -> None:
    url = ("zoom:?meeting_uuid=" + quote(MEETING_UUID, safe="") + "&rtms_stream_id=" + STREAM_ID
           + "&server_urls=" + quote(docs_server.url, safe=""))
    env = {**os.environ, "PYTHONPATH": str(REPO), "CLASSPULSE_ZOOM__CLIENT_ID": CLIENT_ID,
           "CLASSPULSE_ZOOM__CLIENT_SECRET": CLIENT_SECRET, "CLASSPULSE_ZOOM__ALLOW_PRIVATE_SERVER_URLS": "true"}
    sets = [f"store.url=sqlite:///{tmp_path}/cp.db", f"reports.out_dir={tmp_path}/reports",
            "reports.formats=[html]", "analysis.emotions=off", "store.flush_s=0.5"]
    cmd = [sys.executable, "-m", "bot", *[x for s in sets for x in ("--set", s)], "join", url,
           "--class-name", "Docs conformance"]
    log = tmp_path / "join.log"
    with log.open("wb") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=END_S + 240)
    text = log.read_text(errors="replace")
    record = docs_server.record
    (tmp_path / "received.jsonl").write_text("".join(
        json.dumps([t, which, {k: v for k, v in m.items() if k != "signature"}]) + "\n"
        for t, which, m in record.received))

    assert record.ready_at is not None, "the client never sent CLIENT_READY_ACK on signaling:\n" + text[-3000:]
    assert record.ended_at is not None, "the stream did not run to its end:\n" + text[-3000:]
    assert proc.returncode == 0, f"join exited {proc.returncode}:\n{text[-3000:]}"

    closes = [(t, which) for t, which, m in record.received if m.get("msg_type") == STREAM_CLOSE_REQ]
    assert closes == [], f"STREAM_CLOSE_REQ sent before Zoom ended the stream: {closes}"

    for which in ("signaling", "media"):
        sent = record.keepalive_sent.get(which, [])
        assert len(sent) >= 3, f"{which}: only {len(sent)} keep-alive requests in a {END_S:.0f} s class"
        answered = record.keepalive_answered.get(which, {})
        for t, stamp in sent:
            assert stamp in answered, f"{which}: keep-alive of t={t} never answered"
            assert answered[stamp] - t < KEEPALIVE_S, f"{which}: keep-alive of t={t} answered late"
    assert all(which in ("signaling", "media") for t, which, m in record.received
               if m.get("msg_type") == KEEP_ALIVE_RESP)

    assert set(record.frames_sent) == set(NAMES), f"frames sent per student: {record.frames_sent}"

    store = Store(f"sqlite:///{tmp_path}/cp.db", create=False)
    try:
        sessions = store.sessions()
        assert len(sessions) == 1, sessions
        session = sessions[0]
        assert session.ended_at, "the session was not closed"
        names = {p.participant_id: p.display_name for p in store.participants(session.session_id)}
        states: dict[str, dict[str, int]] = {}
        for o in store.observations(session.session_id):
            by_state = states.setdefault(names[o.participant_id], {})
            by_state[o.state.value] = by_state.get(o.state.value, 0) + 1
    finally:
        store.close()
    assert set(NAMES.values()) <= set(names.values()), f"stored names: {sorted(names.values())}"
    for name in NAMES.values():
        assert states.get(name, {}).get(State.PRESENT.value, 0) > 0, f"{name} never analysed with a face: {states}"
    assert states[NAMES[DAN]].get(State.CAMERA_OFF.value, 0) > 0, f"Dan's camera-off not recorded: {states}"
    assert record.errors == [], f"protocol errors seen by the docs server: {record.errors}"
