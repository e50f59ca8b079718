"""A real browser (Debian chromium via Playwright) logs in, schedules a class, watches the live view
update during a simulated session, ends it and downloads the PDF report."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.connectors.fake import solid
from bot.db.records import ClassRecord
from bot.service.auth import Role
from bot.service.state import db_key
from tests.service_fixtures import ThreadedService
from tests.test_service_dashboard import Attentive

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.integration
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(accept_downloads=True)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_teacher_schedules_watches_live_and_downloads(tmp_path: Path, browser_page: Any) -> None:
    page = browser_page
    expect = sync_api.expect
    with ThreadedService(tmp_path, analyze_factory=Attentive, pulse_interval_s=0.3) as svc:
        token = svc.token("rivera", Role.TEACHER)
        svc.app[db_key].add_class(ClassRecord(class_id="cls-1", name="Maths 7B", owner="rivera",
                                              meeting_url="fake:r1", created_at="2026-01-01"))
        page.goto(f"{svc.base}/dashboard")
        expect(page).to_have_url(f"{svc.base}/dashboard/login")
        page.fill("#token", token)
        page.click("#login")
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
        expect(page.locator("#present")).to_contain_text("Ada", timeout=10_000)
        svc.soon(room.arrive, "f2", "Ben", video=solid(140))
        expect(page.locator("#present-count")).to_have_text("2", timeout=10_000)
        expect(page.locator("#attention")).to_have_text("100 %", timeout=10_000)
        expect(page.locator("#mood")).to_contain_text("happy 80 %")
        if shots := os.environ.get("CLASSPULSE_SCREENSHOT_DIR"):  # for people who want to look at it
            page.screenshot(path=str(Path(shots) / "live-view.png"), full_page=True)

        page.click("#leave")
        expect(page.locator("#state")).to_have_text("done", timeout=15_000)
        page.goto(f"{svc.base}/dashboard")
        with page.expect_download() as download:
            page.click("#reports a:has-text('class.pdf')")
        saved = tmp_path / "downloaded.pdf"
        download.value.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF")
