"""The dashboard: token login, CSRF, invite form, own data only, and the SSE live view."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from analysis.pipeline import Sample
from analysis.records import Observation, State
from bot.connectors.base import Reconnecting
from bot.connectors.fake import solid
from bot.service.live_view import class_pulse
from model.labels import LABELS
from tests.fixtures_reports import absent, camera_off, face, present, probs
from tests.service_fixtures import Service, run, service, until

pytestmark = pytest.mark.component

API = "/api/v1"


def csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{32})"', html)
    assert m, html
    return m.group(1)


def login_csrf(html: str) -> str:
    m = re.search(r'name="login_csrf" value="([A-Za-z0-9_-]+)"', html)
    assert m, html
    return m.group(1)


async def log_in(s: Service, who: str) -> str:
    form = await (await s.client.get("/dashboard/login")).text()
    res = await s.client.post("/dashboard/login", data={"token": s.tokens[who], "login_csrf": login_csrf(form)},
                              allow_redirects=False)
    assert res.status == 303 and res.headers["Location"] == "/dashboard"
    assert "HttpOnly" in res.headers["Set-Cookie"] and "SameSite=Strict" in res.headers["Set-Cookie"]
    page = await s.client.get("/dashboard")
    assert page.status == 200
    return await page.text()


class Attentive:
    """Analyser stand-in: every frame shows one attentive, happy face."""

    def __call__(self, samples: Sequence[Sample]) -> list[Observation]:
        return [Observation(s.session_id, s.participant_id, s.t, State.PRESENT,
                            (face(attentive=True, emotions=probs(happy=0.8, neutral=0.2)),))
                if s.frame is not None else Observation(s.session_id, s.participant_id, s.t, State.CAMERA_OFF)
                for s in samples]


def test_login_is_required_and_bad_tokens_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.get("/dashboard", allow_redirects=False)
            assert res.status == 303 and res.headers["Location"] == "/dashboard/login"
            form = await (await s.client.get("/dashboard/login")).text()
            bad = await s.client.post("/dashboard/login", data={"token": "cp_nope", "login_csrf": login_csrf(form)},
                                      allow_redirects=False)
            assert bad.status == 401 and "not valid" in await bad.text()
            assert (await s.client.get("/dashboard/sessions/x/events")).status == 401
            html = await log_in(s, "alice")
            assert "alice (teacher)" in html
            # the form token is required for every post
            res = await s.client.post("/dashboard/logout", data={"csrf": "0" * 32}, allow_redirects=False)
            assert res.status == 403
            res = await s.client.post("/dashboard/logout", data={"csrf": csrf(html)}, allow_redirects=False)
            assert res.status == 303
            assert (await s.client.get("/dashboard", allow_redirects=False)).status == 303

    run(main)


def test_invite_watch_live_and_find_the_report(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, analyze_factory=Attentive) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Maths <7B>", "meeting_url": "fake:r1"},
                                      headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            await s.client.post(f"{API}/schedules", json={"class_id": class_id, "cron": "0 9 * * mon,wed",
                                                          "timezone": "Europe/Berlin", "duration_min": 50},
                                headers=s.auth("alice"))
            html = await log_in(s, "alice")
            assert "Maths &lt;7B&gt;" in html and "0 9 * * mon,wed Europe/Berlin, 50 min" in html
            res = await s.client.post("/dashboard/invite", data={"csrf": csrf(html), "class_id": class_id},
                                      allow_redirects=False)
            assert res.status == 303, await res.text()
            page_url = res.headers["Location"]
            sid = page_url.rsplit("/", 1)[1]
            meeting = s.meetings.room("r1")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(100))
            meeting.arrive("f2", "Ben")  # camera off
            page = await s.client.get(page_url)
            assert page.status == 200 and "EventSource" in await page.text()
            await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 6)
            await until(lambda: s.store.count_observations(sid) >= 4)
            pulses = await read_pulses(s, f"{page_url}/events", 2)
            last = pulses[-1]
            assert last["state"] == "in_class" and last["present"] == ["Ada", "Ben"]
            assert last["attention"] == 1.0 and last["mood"]["happy"] == 0.8
            assert 0 < last["camera_off_share"] < 1
            # one tile per student, camera off before on camera; the chart spans 10 minutes of 10 s points
            assert [(t["name"], t["state"]) for t in last["tiles"]] == [("Ben", "camera_off"), ("Ada", "present")]
            assert last["counts"] == {"camera_off": 1, "present": 1}
            assert len(last["chart"]["attention"]) == 60 and last["moment"] is None
            # bob cannot watch alice's class
            await log_in(s, "bob")
            assert (await s.client.get(page_url)).status == 404
            assert (await s.client.get(f"{page_url}/events")).status == 404
            html = await log_in(s, "alice")
            res = await s.client.post(f"{page_url}/leave", data={"csrf": csrf(html)}, allow_redirects=False)
            assert res.status == 303
            await s.manager.wait(sid)
            final = await read_pulses(s, f"{page_url}/events", 1)
            assert final[-1]["state"] == "done"
            home = await (await s.client.get("/dashboard")).text()
            assert f"{API}/reports/{sid}/files/class.pdf" in home
            pdf = await s.client.get(f"{API}/reports/{sid}/files/class.pdf")  # the login cookie is enough for GET
            assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
            # but not for changes: the API wants the bearer header there (no CSRF through the cookie)
            assert (await s.client.post(f"{API}/sessions", json={"meeting_url": "fake:x"})).status == 401

    run(main)


async def pulse_until(s: Service, url: str, cond: Callable[[dict[str, Any]], bool],
                      within_s: float = 10.0) -> dict[str, Any]:
    """Read `pulse` events until one satisfies `cond`."""
    res = await s.client.get(url)
    event = ""
    try:
        async with asyncio.timeout(within_s):
            while True:
                line = (await res.content.readline()).decode().strip()
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "pulse":
                    pulse = json.loads(line.split(":", 1)[1])
                    if cond(pulse):
                        return pulse
                elif not line and res.content.at_eof():
                    raise AssertionError("the stream ended")
    finally:
        res.close()


def states(pulse: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["state"] for t in pulse.get("tiles", [])}


class FacesOnly:
    """Analyser stand-in with emotions switched off: faces looking at the screen, no expression readings."""

    def __call__(self, samples: Sequence[Sample]) -> list[Observation]:
        return [Observation(s.session_id, s.participant_id, s.t, State.PRESENT, (face(attentive=True),))
                if s.frame is not None else Observation(s.session_id, s.participant_id, s.t, State.CAMERA_OFF)
                for s in samples]


EMOTION_WORDS = (*LABELS, "emotion", "mood", "expression", "feeling")


def test_live_tiles_left_and_no_signal_with_emotions_off(tmp_path: Path) -> None:
    """Emotions off: the page and every pulse are free of emotion words; tiles follow the students
    (camera off, left) and a lost meeting connection reads as no signal, not as the student."""
    async def main() -> None:
        sections = {"analysis": {"emotions": False, "sample_interval_s": 0.05}}
        async with service(tmp_path, sections=sections, analyze_factory=FacesOnly) as s:
            res = await s.client.post(f"{API}/sessions", json={"meeting_url": "fake:r1", "class_name": "Art"},
                                      headers=s.auth("alice"))
            sid = (await res.json())["session_id"]
            room = s.meetings.room("r1")
            await until(lambda: room.connector is not None and room.connector.inside)
            room.arrive("f1", "Ada", video=solid(100))
            room.arrive("f2", "Ben")  # camera off
            room.arrive("f3", "Cleo", video=solid(120))
            await log_in(s, "alice")
            url = f"/dashboard/sessions/{sid}"
            html = (await (await s.client.get(url)).text()).lower()
            assert 'id="tiles"' in html and 'aria-live="assertive"' in html
            assert not [w for w in EMOTION_WORDS if w in html], [w for w in EMOTION_WORDS if w in html]
            everyone = await pulse_until(s, f"{url}/events", lambda p: states(p) == {
                "Ada": "present", "Ben": "camera_off", "Cleo": "present"})
            assert [t["name"] for t in everyone["tiles"]] == ["Ben", "Ada", "Cleo"]
            room.depart("f3")
            gone = await pulse_until(s, f"{url}/events", lambda p: states(p).get("Cleo") == "left")
            assert [t["name"] for t in gone["tiles"]] == ["Ben", "Ada", "Cleo"] and gone["counts"]["left"] == 1
            room._emit(Reconnecting("fake signalling lost"))
            lost = await pulse_until(s, f"{url}/events", lambda p: states(p).get("Ben") == "no_signal")
            assert lost["tiles"][-2]["text"] == "No signal (our side, not the student)"  # after present, before left
            for pulse in (everyone, gone, lost):
                text = json.dumps(pulse).lower()
                assert "mood" not in pulse and not [w for w in EMOTION_WORDS if w in text]
            s.manager.leave(sid)
            await s.manager.wait(sid)
            final = (await read_pulses(s, f"{url}/events", 1))[-1]
            assert final["state"] == "done" and "mood" not in final

    run(main)


def test_root_leads_to_the_dashboard_and_the_login_page_tells_how_to_get_a_token(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.get("/", allow_redirects=False)
            assert res.status == 302 and res.headers["Location"] == "/dashboard"
            login = await s.client.get("/")  # followed: not logged in, so on to the login page
            assert str(login.url).endswith("/dashboard/login")
            html = await login.text()
            assert "classpulse token create --role admin --name \"IT office\"" in html
            assert "classpulse token create --role teacher" in html

    run(main)


def test_home_shows_running_sessions_today_and_recent_reports(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={"name": "Maths 7B", "meeting_url": "fake:r1"},
                                      headers=s.auth("alice"))
            class_id = (await res.json())["class_id"]
            await s.client.post(f"{API}/schedules", json={"class_id": class_id, "cron": "0 0,12 * * *",
                                                          "timezone": "Europe/Berlin", "duration_min": 45},
                                headers=s.auth("alice"))
            html = await log_in(s, "alice")
            assert "No class is running." in html
            today = html.split('id="today"', 1)[1].split("</table>", 1)[0]
            assert "Maths 7B" in today  # at 12:00 today, or "Next: Maths 7B" tomorrow at 00:00
            res = await s.client.post(f"{API}/sessions", json={"class_id": class_id}, headers=s.auth("alice"))
            sid = (await res.json())["session_id"]
            html = await (await s.client.get("/dashboard")).text()
            running = html.split('id="running"', 1)[1].split("</ul>", 1)[0]
            assert "Maths 7B" in running and f'href="/dashboard/sessions/{sid}">Open the live view' in running
            s.manager.leave(sid)
            await s.manager.wait(sid)
            html = await (await s.client.get("/dashboard")).text()
            assert "No class is running." in html
            reports = html.split('id="reports"', 1)[1].split("</table>", 1)[0]
            assert f"{API}/reports/{sid}/files/class.pdf" in reports

    run(main)


async def read_pulses(s: Service, url: str, n: int) -> list[dict[str, Any]]:
    res = await s.client.get(url)
    assert res.status == 200 and res.content_type == "text/event-stream"
    out: list[dict[str, Any]] = []
    event = ""
    while len(out) < n:
        line = (await res.content.readline()).decode().strip()
        if not line and res.content.at_eof():
            break
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "pulse":
            out.append(json.loads(line.split(":", 1)[1]))
    res.close()
    return out


def test_invite_form_errors_name_the_field(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            html = await log_in(s, "alice")
            res = await s.client.post("/dashboard/invite", data={"csrf": csrf(html), "meeting_url": "http://x"})
            assert res.status == 422 and "meeting_url" in await res.text()
            res = await s.client.post("/dashboard/invite", data={"csrf": csrf(html), "class_id": "cls-nope"})
            assert res.status == 404 and "class not found" in await res.text()

    run(main)


def test_class_pulse_levels() -> None:
    obs = (present("a", [1, 2], attentive=True, emotions=probs(happy=1.0))
           + present("b", [1, 2], attentive=False, emotions=probs(neutral=1.0))
           + absent("c", [1]) + camera_off("d", [1, 2, 3]))
    p = class_pulse(obs, ["b", "A"], {"state": "in_class", "elapsed_s": 3.04, "students": 4, "samples": 10}, 30)
    assert p["attention"] == 0.5 and p["mood"]["happy"] == 0.5 and p["mood"]["neutral"] == 0.5
    assert p["present"] == ["A", "b"] and p["camera_off_share"] == round(3 / 8, 3) and p["elapsed_s"] == 3.0
    empty = class_pulse([], [], None, 30)
    assert empty["attention"] is None and empty["mood"] is None and empty["state"] == "ended"
