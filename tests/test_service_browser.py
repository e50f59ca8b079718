"""A real browser (Debian chromium via Playwright) logs in, schedules a class, watches the live view
update during a simulated session, ends it and downloads the PDF report; and a teacher's glance at
the live view: tiles in every state, sorted, the chart moving, the class-moment banner, the keyboard.

Set CLASSPULSE_SCREENSHOT_DIR to keep screenshots of the live view (laptop 1366x768, tablet 820x1180)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from analysis.pipeline import Sample
from analysis.records import Observation, State
from bot.connectors.fake import solid
from bot.db.records import ClassRecord
from bot.service.auth import Role
from bot.service.dashboard import live_settings_key
from bot.service.live_timeline import LiveSettings
from bot.service.state import db_key
from tests.fixtures_reports import face, probs
from tests.service_fixtures import ThreadedService
from tests.test_service_dashboard import EMOTION_WORDS, Attentive, FacesOnly

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.integration
try:
    from playwright import sync_api
except ImportError:  # a developer without the test extras; CI must have it
    if os.environ.get("CI"):
        raise
    sync_api = pytest.importorskip("playwright.sync_api")

LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing under CI (apt-get install -y chromium)")
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(accept_downloads=True, viewport=LAPTOP)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def shot(page: Any, name: str) -> None:
    if shots := os.environ.get("CLASSPULSE_SCREENSHOT_DIR"):  # for people who want to look at it
        page.screenshot(path=str(Path(shots) / name), full_page=True)


def log_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/dashboard")
    sync_api.expect(page).to_have_url(f"{base}/dashboard/login")
    page.fill("#token", token)
    page.click("#login")


def test_teacher_schedules_watches_live_and_downloads(tmp_path: Path, browser_page: Any) -> None:
    page = browser_page
    expect = sync_api.expect
    with ThreadedService(tmp_path, analyze_factory=Attentive, pulse_interval_s=0.3) as svc:
        token = svc.token("rivera", Role.TEACHER)
        svc.app[db_key].add_class(ClassRecord(class_id="cls-1", name="Maths 7B", owner="rivera",
                                              meeting_url="fake:r1", created_at="2026-01-01"))
        log_in(page, svc.base, token)
        expect(page.locator("header")).to_contain_text("rivera (teacher)")

        page.fill("#cron", "0 9 * * mon,wed")
        page.fill("#skip_dates", "2026-12-24")
        page.click("#schedule-button")
        expect(page.locator("#classes")).to_contain_text("0 9 * * mon,wed Europe/Berlin, 50 min — next")

        page.select_option("#class_id", "cls-1")
        page.click("#invite-button")
        page.wait_for_url("**/dashboard/sessions/*")
        room = svc.meetings.room("r1")
        expect(page.locator("#state")).to_have_text("in_class", timeout=10_000)
        svc.soon(room.arrive, "f1", "Ada", video=solid(100))
        expect(page.locator("#tiles")).to_contain_text("Ada", timeout=10_000)
        svc.soon(room.arrive, "f2", "Ben", video=solid(140))
        expect(page.locator("#student-count")).to_have_text("2", timeout=10_000)
        expect(page.locator("#attention")).to_have_text("100 %", timeout=10_000)
        expect(page.locator("#mood")).to_contain_text("happy 80 %")

        page.click("#leave")
        expect(page.locator("#state")).to_have_text("done", timeout=15_000)
        page.goto(f"{svc.base}/dashboard")
        with page.expect_download() as download:
            page.click("#reports a:has-text('class.pdf')")
        saved = tmp_path / "downloaded.pdf"
        download.value.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF")


class Scripted:
    """Analyser stand-in whose answers the test changes while the class runs, per participant id:
    "attentive" (a face looking at the screen), "away" (a face turned away) or "noface"."""

    def __init__(self) -> None:
        self.mode: dict[str, str] = {}

    def __call__(self, samples: Sequence[Sample]) -> list[Observation]:
        out = []
        for s in samples:
            mode = self.mode.get(s.participant_id, "attentive")
            if s.frame is None:
                out.append(Observation(s.session_id, s.participant_id, s.t, State.CAMERA_OFF))
            elif mode == "noface":
                out.append(Observation(s.session_id, s.participant_id, s.t, State.ABSENT))
            else:
                reading = face(attentive=mode == "attentive", emotions=probs(neutral=0.7, happy=0.3))
                out.append(Observation(s.session_id, s.participant_id, s.t, State.PRESENT, (reading,)))
        return out


def tile_names(page: Any) -> list[str]:
    return [str(n) for n in page.locator("#tiles > li .name").all_text_contents()]


def focused_pid(page: Any) -> str | None:
    return page.evaluate("() => document.activeElement.classList.contains('tile') ? "
                         "document.activeElement.dataset.pid : null")


def test_live_view_at_a_glance(tmp_path: Path, browser_page: Any) -> None:
    """From `/` to the login hint, the home page's running session, and its live view: tiles in the
    observation states (camera off, no face, looking away, left), sorted, the chart moving, the banner
    when a class moment starts (driven by a scripted analyser and 0.5 s windows, not real minutes),
    keyboard navigation over the tiles, and no request leaving the service."""
    page = browser_page
    expect = sync_api.expect
    scripted = Scripted()
    svc = ThreadedService(tmp_path, analyze_factory=lambda: scripted, pulse_interval_s=0.3)
    svc.app[live_settings_key] = LiveSettings(window_s=1.0, chart_window_s=0.5, history_s=15.0, lag_s=0.3)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    with svc:
        token = svc.token("rivera", Role.TEACHER)
        svc.app[db_key].add_class(ClassRecord(class_id="cls-1", name="History 9A", owner="rivera",
                                              meeting_url="fake:r1", created_at="2026-01-01"))
        page.goto(f"{svc.base}/")
        expect(page).to_have_url(f"{svc.base}/dashboard/login")
        expect(page.locator("#admin-command")).to_have_text('classpulse token create --role admin --name "IT office"')
        shot(page, "login.png")
        page.fill("#token", token)
        page.click("#login")
        expect(page.locator("#running")).to_contain_text("No class is running.")
        page.select_option("#class_id", "cls-1")
        page.click("#invite-button")
        page.wait_for_url("**/dashboard/sessions/*")
        live_url = page.url
        page.goto(f"{svc.base}/dashboard")
        expect(page.locator("#running")).to_contain_text("History 9A")
        shot(page, "home.png")
        page.click("#running a:has-text('Open the live view')")
        expect(page).to_have_url(live_url)
        expect(page.locator("#state")).to_have_text("in_class", timeout=10_000)

        room = svc.meetings.room("r1")
        for n, (feed, name, video) in enumerate([("f1", "Ada", solid(100)), ("f2", "Ben", None),
                                                 ("f3", "Cleo", solid(120)), ("f4", "Dan", solid(90)),
                                                 ("f5", "Eve", solid(150))], start=1):
            svc.soon(room.arrive, feed, name, video=video)
            expect(page.locator("#student-count")).to_have_text(str(n), timeout=10_000)
        expect(page.locator("#tiles > li[data-state=present]")).to_have_count(4, timeout=10_000)
        assert tile_names(page) == ["Ben", "Ada", "Cleo", "Dan", "Eve"]  # camera off first, then by name
        expect(page.locator("#tiles > li").first).to_contain_text("Camera off")
        expect(page.locator("#banner-wrap")).to_be_hidden()

        # the chart moves: more points, and the line changes as windows complete
        expect(page.locator("#chart")).not_to_have_attribute("data-points", "0", timeout=10_000)
        before = page.locator("#chart-line").get_attribute("d")
        expect(page.locator("#chart-line")).not_to_have_attribute("d", before or "", timeout=10_000)
        expect(page.locator("#chart-desc")).to_contain_text("Latest 100 %")

        # a class moment: Cleo's face leaves the picture and Eve looks away (2 of 4 with video)
        scripted.mode.update({"p3": "noface", "p5": "away"})
        expect(page.locator("#banner")).to_contain_text("Many students are looking away", timeout=10_000)
        expect(page.locator("#banner-wrap")).to_be_visible()
        expect(page.locator("#banner")).to_contain_text("(2 of 4 students with video)")
        expect(page.locator("#tiles > li").first).to_contain_text("No face on camera", timeout=10_000)
        expect(page.locator("#tiles > li").nth(1)).to_contain_text("On camera, looking away", timeout=10_000)
        svc.soon(room.depart, "f4")
        expect(page.locator("#tiles > li").last).to_contain_text("Left the class", timeout=10_000)
        assert tile_names(page) == ["Cleo", "Eve", "Ben", "Ada", "Dan"]
        expect(page.locator("#now-look")).to_have_text("2")
        expect(page.locator("#now-left")).to_have_text("1")
        for name in ("Cleo", "Eve"):
            expect(page.locator("#tiles > li", has_text=name)).to_contain_text("Needs a look")
        expect(page.locator("#chart-desc")).to_contain_text("lowest", timeout=10_000)
        expect(page.locator("#counts")).to_contain_text("5 students: 1 no face, 1 looking away, 1 camera off, "
                                                        "1 on camera, 1 left")

        for size, name in ((LAPTOP, "live-laptop.png"), (TABLET, "live-tablet.png")):
            page.set_viewport_size(size)
            page.wait_for_timeout(700)  # a pulse or two at this size
            shot(page, name)
        page.set_viewport_size(LAPTOP)

        # keyboard: one tab stop reaches the tiles, arrows move between them, focus survives pulses
        page.locator("#banner-close").focus()
        for _ in range(10):
            page.keyboard.press("Tab")
            if focused_pid(page):
                break
        assert focused_pid(page) == "p3"  # the first tile: Cleo
        page.keyboard.press("ArrowRight")
        assert focused_pid(page) == "p5"
        page.keyboard.press("End")
        assert focused_pid(page) == "p4"
        page.wait_for_timeout(1000)  # several pulses redraw the tiles
        assert focused_pid(page) == "p4"
        page.keyboard.press("Home")
        assert focused_pid(page) == "p3"
        page.keyboard.press("Tab")
        assert focused_pid(page) is None  # one tab stop for all tiles: Tab leaves the list

        page.click("#banner-close")
        expect(page.locator("#banner-wrap")).to_be_hidden()
        page.click("#leave")
        expect(page.locator("#state")).to_have_text("done", timeout=15_000)
    foreign = [u for u in requests if not u.startswith(svc.base)]
    assert not foreign, foreign  # no CDN, no web fonts: everything comes from the service


def test_live_view_with_emotions_off_shows_no_emotion_word(tmp_path: Path, browser_page: Any) -> None:
    """`analysis.emotions: off`: what a teacher sees (the rendered page, after live updates) has no
    mood section and not one emotion word."""
    page = browser_page
    expect = sync_api.expect
    svc = ThreadedService(tmp_path, analyze_factory=FacesOnly, pulse_interval_s=0.3,
                          sections={"analysis": {"emotions": False, "sample_interval_s": 0.05}})
    svc.app[live_settings_key] = LiveSettings(window_s=1.0, chart_window_s=0.5, history_s=15.0, lag_s=0.3)
    with svc:
        token = svc.token("rivera", Role.TEACHER)
        svc.app[db_key].add_class(ClassRecord(class_id="cls-1", name="Art 5C", owner="rivera",
                                              meeting_url="fake:r1", created_at="2026-01-01"))
        log_in(page, svc.base, token)
        page.select_option("#class_id", "cls-1")
        page.click("#invite-button")
        page.wait_for_url("**/dashboard/sessions/*")
        expect(page.locator("#state")).to_have_text("in_class", timeout=10_000)
        room = svc.meetings.room("r1")
        svc.soon(room.arrive, "f1", "Ada", video=solid(100))
        svc.soon(room.arrive, "f2", "Ben")
        expect(page.locator("#tiles > li")).to_have_count(2, timeout=10_000)
        expect(page.locator("#chart")).not_to_have_attribute("data-points", "0", timeout=10_000)
        expect(page.locator("#attention")).to_have_text("100 %", timeout=10_000)
        assert page.locator("#mood").count() == 0
        shown = page.evaluate("() => document.body.innerText").lower()
        assert not [w for w in EMOTION_WORDS if w in shown], shown
        shot(page, "live-emotions-off.png")
        page.click("#leave")
        expect(page.locator("#state")).to_have_text("done", timeout=15_000)


ROSTER_CSV = ("name,aliases,email,student_id\r\n"
              "Alex Kim,Lexi,,s1\r\nMia Wong,,,s2\r\nJonas Berg,Joe,,s3\r\nLena Vogel,,,s4\r\n")


@pytest.mark.parametrize("sees_everyone", [True, False], ids=["janus", "zoom-like"])
def test_live_view_shows_roster_students_who_have_not_arrived(tmp_path: Path, browser_page: Any,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             sees_everyone: bool) -> None:
    """The class roster's students get a tile before they join ("Not arrived yet"; on a platform
    that may hide participants, "Not visible to ClassPulse"), matched by name, alias or device
    note as the report does; the tile goes when they arrive."""
    from bot.connectors.fake import FakeConnector
    from bot.sessions.roster_match import parse_roster_csv

    if not sees_everyone:
        monkeypatch.setattr(FakeConnector, "sees_everyone", False, raising=False)
    state, text = ("not_arrived", "Not arrived yet") if sees_everyone else ("not_visible", "Not visible to ClassPulse")
    page = browser_page
    expect = sync_api.expect
    scripted = Scripted()
    svc = ThreadedService(tmp_path, analyze_factory=lambda: scripted, pulse_interval_s=0.3)
    svc.app[live_settings_key] = LiveSettings(window_s=1.0, chart_window_s=0.5, history_s=15.0, lag_s=0.3)
    with svc:
        token = svc.token("rivera", Role.TEACHER)
        db = svc.app[db_key]
        db.add_class(ClassRecord(class_id="cls-1", name="Geography 8A", owner="rivera", meeting_url="fake:r1",
                                 created_at="2026-01-01"))
        db.rosters.replace("cls-1", parse_roster_csv(ROSTER_CSV), "2026-01-01T00:00:00+00:00")
        log_in(page, svc.base, token)
        page.select_option("#class_id", "cls-1")
        page.click("#invite-button")
        page.wait_for_url("**/dashboard/sessions/*")
        expect(page.locator("#state")).to_have_text("in_class", timeout=10_000)
        expect(page.locator(f"#tiles > li[data-state={state}]")).to_have_count(4, timeout=10_000)
        expect(page.locator("#tiles > li").first).to_contain_text(text)

        room = svc.meetings.room("r1")
        svc.soon(room.arrive, "f1", "Lexi", video=solid(100))  # Alex Kim's alias
        svc.soon(room.arrive, "f2", "Mia Wong (iPad)", video=solid(120))
        svc.soon(room.arrive, "f3", "Guest 7", video=None)  # on nobody's roster line: a tile of its own
        expect(page.locator(f"#tiles > li[data-state={state}]")).to_have_count(2, timeout=10_000)
        expect(page.locator("#tiles > li[data-state=present]")).to_have_count(2, timeout=10_000)
        missing = page.locator(f"#tiles > li[data-state={state}] .name").all_text_contents()
        assert missing == ["Jonas Berg", "Lena Vogel"]
        alex, mia = "Alex Kim (as “Lexi”)", "Mia Wong (as “Mia Wong (iPad)”)"  # roster names, as the report
        if sees_everyone:  # needing a look, then camera off and not arrived (by name), then on camera
            assert tile_names(page) == ["Guest 7", "Jonas Berg", "Lena Vogel", alex, mia]
            expect(page.locator("#counts")).to_contain_text("5 students: 1 camera off, 2 on camera, "
                                                            "2 not arrived yet")
        else:  # "not visible" says nothing about the student: with the states that say nothing
            assert tile_names(page) == ["Guest 7", alex, mia, "Jonas Berg", "Lena Vogel"]
        expect(page.locator("#legend")).to_contain_text(text)
        shot(page, f"live-roster-{'janus' if sees_everyone else 'zoom'}.png")
        svc.soon(room.arrive, "f4", "Joe", video=solid(90))  # Jonas Berg's alias
        expect(page.locator(f"#tiles > li[data-state={state}]")).to_have_count(1, timeout=10_000)
        page.click("#leave")
        expect(page.locator("#state")).to_have_text("done", timeout=15_000)
