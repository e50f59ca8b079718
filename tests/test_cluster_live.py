"""The live-progress feed of a cluster `serve` (bot.cluster.live): latest message per session, stale ones dropped."""

from __future__ import annotations

import json

from bot.cluster.live import MAX_NAMES, LiveFeed, message


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
