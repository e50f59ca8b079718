"""The cluster's pure parts: queue URLs and locks, the re-queue rule, the live feed, the bench's p95.

(The cluster itself, with PostgreSQL and worker processes, is tests/test_cluster.py.)
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.bench.cluster import p95
from bot.cluster.jobqueue import HandedOver, NoRoom, Requeue, class_lock, conninfo, is_postgres
from bot.cluster.live import MAX_NAMES, LiveFeed, message
from bot.config import Config


def test_queue_urls_and_locks() -> None:
    url = "postgresql+psycopg://cp:s3cret@db.example:5433/classpulse?sslmode=require"
    assert conninfo(url) == "postgresql://cp:s3cret@db.example:5433/classpulse?sslmode=require"
    # the socket folder comes out percent-encoded, which libpq decodes
    assert conninfo("postgresql+psycopg://postgres@/t1?host=/tmp/sock") == "postgresql://postgres@/t1?host=%2Ftmp%2Fsock"
    with pytest.raises(ValueError, match="PostgreSQL"):
        conninfo("sqlite:////tmp/x.db")
    assert is_postgres(url) and not is_postgres("sqlite:///x.db")
    assert class_lock("cls-1", "s") == "class:cls-1" and class_lock("", "live-1") == "session:live-1"


def test_only_no_room_and_handover_go_back_to_the_queue() -> None:
    rule = Requeue(wait_s=2.0)
    before = dt.datetime.now(dt.UTC)
    later = rule.get_retry_decision(exception=NoRoom("full"), job=None)  # type: ignore[arg-type]
    now = rule.get_retry_decision(exception=HandedOver("s"), job=None)  # type: ignore[arg-type]
    assert later is not None and later.retry_at is not None and later.retry_at >= before + dt.timedelta(seconds=2)
    assert now is not None and now.retry_at is not None and now.retry_at < before + dt.timedelta(seconds=1)
    assert rule.get_retry_decision(exception=RuntimeError("bug"), job=None) is None  # type: ignore[arg-type]


def test_a_refused_class_is_due_at_a_random_time_so_every_polling_worker_has_a_chance() -> None:
    draws = iter([0.0, 0.999])
    rule = Requeue(wait_s=2.0, jitter=lambda: next(draws))
    before = dt.datetime.now(dt.UTC)
    soon, late = (rule.get_retry_decision(exception=NoRoom("full"), job=None)  # type: ignore[arg-type]
                  for _ in range(2))
    assert soon is not None and late is not None and soon.retry_at is not None and late.retry_at is not None
    assert dt.timedelta(seconds=2) <= soon.retry_at - before < dt.timedelta(seconds=2.5)
    assert dt.timedelta(seconds=3.99) <= late.retry_at - before < dt.timedelta(seconds=4.5)


def test_who_runs_the_bots() -> None:
    pg = {"store": {"url": "postgresql+psycopg://u@h/db"}}
    assert Config.model_validate(pg).queued_sessions
    assert not Config.model_validate({"store": {"url": "sqlite:////tmp/x.db"}}).queued_sessions
    assert not Config.model_validate({**pg, "cluster": {"sessions": "embedded"}}).queued_sessions
    assert Config.model_validate({"store": {"url": "sqlite:////tmp/x.db"}, "cluster": {"sessions": "workers"}}
                                 ).queued_sessions


def test_p95_is_nearest_rank() -> None:
    assert p95([]) is None and p95([3.0]) == 3.0
    assert p95([float(i) for i in range(1, 21)]) == 19.0


def test_the_feed_keeps_the_latest_message_and_forgets_stale_ones() -> None:
    now = [100.0]
    feed = LiveFeed("", every_s=2.0, clock=lambda: now[0])
    feed.take(message("s1", {"state": "in_class", "students": 3}, ["Ada", "Ben"]))
    feed.take(message("s1", {"state": "in_class", "students": 4}, ["Ada"]))
    assert feed.get("s1") == {"state": "in_class", "students": 4, "present_names": ["Ada"]}
    assert feed.get("s2") is None
    now[0] += 6.1  # three intervals without a message: the worker may be gone
    assert feed.get("s1") is None


def test_a_malformed_message_is_ignored_and_names_are_capped() -> None:
    feed = LiveFeed("", every_s=1.0)
    for bad in ("not json", "[]", json.dumps({"state": "in_class"})):
        feed.take(bad)
    assert feed.latest == {}
    big = json.loads(message("s", {}, [f"Student {i}" for i in range(500)]))
    assert len(big["present_names"]) == MAX_NAMES and len(message("s", {}, ["x" * 30] * 500)) < 8000
