"""Classes name their Zoom meeting (which RTMS streams are theirs) and the notice the teacher shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.connectors import informing
from tests.service_fixtures import run, service

pytestmark = pytest.mark.component

API = "/api/v1"


def test_a_class_is_mapped_to_its_zoom_meeting_by_number_or_join_link(tmp_path: Path) -> None:
    async def body() -> None:
        async with service(tmp_path) as s:
            res = await s.client.post(f"{API}/classes", json={
                "name": "Maths 7B", "zoom_meeting_id": "https://school.zoom.us/j/81234567890?pwd=secret"},
                headers=s.auth("alice"))
            assert res.status == 201, await res.text()
            made = await res.json()
            assert made["zoom_meeting_id"] == "81234567890"  # the passcode is not kept
            assert made["students_informed_by"] == informing.BY_ZOOM_AND_TEACHER
            assert made["notice_to_share"].startswith(s.config.bot.notice)
            assert "app indicator" in made["notice_to_share"] and "chat" in made["notice_to_share"]
            assert s.db.class_for_zoom_meeting("81234567890").class_id == made["class_id"]  # type: ignore[union-attr]

            # one class per meeting: a webhook must name exactly one class and teacher
            res = await s.client.post(f"{API}/classes", json={"name": "Bob's", "zoom_meeting_id": "812 3456 7890"},
                                      headers=s.auth("bob"))
            assert res.status == 409 and "another class" in (await res.json())["error"]["message"]

            res = await s.client.post(f"{API}/classes", json={"name": "Bad", "zoom_meeting_id": "https://evil.x/j/1"},
                                      headers=s.auth("alice"))
            assert res.status == 422 and "zoom_meeting_id" in await res.text()

            # an existing class gets (or loses) its meeting; only its owner may change it
            res = await s.client.post(f"{API}/classes", json={"name": "Physics"}, headers=s.auth("bob"))
            other = await res.json()
            assert other["notice_to_share"] == "" and other["students_informed_by"] == informing.BY_THE_BOT
            url = f"{API}/classes/{other['class_id']}"
            res = await s.client.patch(url, json={"zoom_meeting_id": "81234567890"}, headers=s.auth("bob"))
            assert res.status == 409
            res = await s.client.patch(url, json={"zoom_meeting_id": "923 456 7890"}, headers=s.auth("alice"))
            assert res.status == 404
            res = await s.client.patch(url, json={"zoom_meeting_id": "923 456 7890"}, headers=s.auth("bob"))
            assert res.status == 200 and (await res.json())["zoom_meeting_id"] == "9234567890"
            res = await s.client.get(url, headers=s.auth("bob"))
            assert (await res.json())["students_informed_by"] == informing.BY_ZOOM_AND_TEACHER
            res = await s.client.patch(url, json={"zoom_meeting_id": ""}, headers=s.auth("bob"))
            assert (await res.json())["zoom_meeting_id"] == "" and s.db.class_for_zoom_meeting("9234567890") is None

    run(body)
