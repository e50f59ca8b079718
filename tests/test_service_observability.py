"""/metrics, /readyz, key=value logs and the retention job."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from analysis.records import SessionInfo
from analysis.store import Store
from bot.connectors.fake import solid
from bot.db.records import SessionRecord
from bot.db.store import ServiceStore
from bot.service.logs import KeyValueFormatter
from bot.service.retention import purge
from bot.service.state import schedules_key
from tests.service_fixtures import make_config, run, service, until
from tests.test_service_api import start_class_session

pytestmark = pytest.mark.component

API = "/api/v1"


def samples(text: str) -> dict[str, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return out


def test_metrics_follow_live_and_finished_sessions(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            _, sid = await start_class_session(s)
            meeting = s.meetings.room("r1")
            await until(lambda: meeting.connector is not None and meeting.connector.inside)
            meeting.arrive("f1", "Ada", video=solid(100))
            meeting.arrive("f2", "Ben")
            await until(lambda: (s.manager.live_numbers(sid) or {}).get("samples", 0) >= 4)
            res = await s.client.get("/metrics")
            assert res.status == 200 and res.content_type == "text/plain"
            live = samples(await res.text())
            assert live["classpulse_sessions_running"] == 1 and live["classpulse_students_present"] == 2
            assert live["classpulse_samples_total"] >= 4 and live["classpulse_dropped_samples_total"] >= 0
            assert live["classpulse_inference_latency_seconds{quantile=0.95}"] >= 0
            s.manager.leave(sid)
            await s.manager.wait(sid)
            after = samples(await (await s.client.get("/metrics")).text())
            assert after["classpulse_sessions_running"] == 0
            assert after["classpulse_sessions_finished_total{state=done}"] == 1
            assert after["classpulse_samples_total"] >= live["classpulse_samples_total"]  # kept after the end
            ready = await s.client.get("/readyz")
            assert ready.status == 200 and (await ready.json()) == {"ok": True, "store": True, "scheduler": True,
                                                                    "sessions": 0}
            assert (await s.client.get("/healthz")).status == 200

    run(main)


def test_retention_deletes_only_old_sessions_and_their_reports(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store(config.store.url)
    db = ServiceStore(store)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    try:
        for sid, age in (("old-1", 31), ("new-1", 29), ("old-running", 40)):
            started = (now - timedelta(days=age)).isoformat()
            store.create_session(SessionInfo(session_id=sid, class_name="C", started_at=started))
            db.add_session(SessionRecord(session_id=sid, owner="alice", class_name="C", meeting="fake",
                                         state="done", created_at=started))
            (tmp_path / "reports" / sid).mkdir(parents=True)
            (tmp_path / "reports" / sid / "class.pdf").write_bytes(b"%PDF")
        db.add_session(SessionRecord(session_id="old-failed", owner="bob", class_name="C", meeting="fake",
                                     state="failed", failure="network",
                                     created_at=(now - timedelta(days=60)).isoformat()))
        assert purge(store, db, config, running={"old-running"}, now=now) == ["old-1", "old-failed"]
        assert {s.session_id for s in store.sessions()} == {"new-1", "old-running"}
        assert db.session("old-failed") is None
        assert not (tmp_path / "reports" / "old-1").exists() and (tmp_path / "reports" / "new-1").exists()
    finally:
        store.close()


def test_the_retention_job_is_scheduled_daily(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as s:
            job = s.client.server.app[schedules_key].scheduler.get_job("retention")
            assert job is not None and job.next_run_time.astimezone(UTC).strftime("%H:%M") == "03:30"
            assert await s.client.server.app[schedules_key].retention() == []

    run(main)


def test_logs_are_key_value_lines() -> None:
    record = logging.LogRecord("bot.service", logging.WARNING, __file__, 1, 'delivery failed id=%s\nerr="x"',
                               ("evt-1",), None)
    line = KeyValueFormatter().format(record)
    assert line.startswith("ts=") and " level=warning logger=bot.service " in line
    assert line.endswith('msg="delivery failed id=evt-1 err=\'x\'"') and "\n" not in line
