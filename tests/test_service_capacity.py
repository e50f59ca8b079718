"""Caps on concurrent sessions: per teacher and per service, 429 with Retry-After, race-free."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.service.capacity import CapacityExceeded, CapacityGate, Limits, refusal
from tests.service_fixtures import run, service

API = "/api/v1"


def test_the_rule() -> None:
    limits = Limits(max_concurrent=3, max_concurrent_per_teacher=2)
    assert refusal([], "alice", limits) is None
    assert refusal(["alice"], "alice", limits) is None
    found = refusal(["alice", "alice"], "alice", limits)
    assert found is not None and "max_concurrent_per_teacher = 2" in found.message
    assert refusal(["alice", "alice"], "bob", limits) is None
    found = refusal(["alice", "bob", "carol"], "dave", limits)
    assert found is not None and "session.max_concurrent = 3" in found.message


def test_the_gate_counts_starts_in_progress() -> None:
    gate = CapacityGate(Limits(max_concurrent=2, max_concurrent_per_teacher=2))
    with gate.reserve([], "alice"), gate.reserve([], "alice"), pytest.raises(CapacityExceeded), \
            gate.reserve([], "alice"):
        pass
    assert gate.starting == []  # released, also after a refusal


def test_a_teacher_over_the_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, max_concurrent=3, max_concurrent_per_teacher=2) as s:
            async def start(who: str, room: str) -> int:
                res = await s.client.post(f"{API}/sessions", json={"meeting_url": f"fake:{room}"},
                                          headers=s.auth(who))
                if res.status == 429:
                    assert res.headers["Retry-After"] == "60"
                    assert "max_concurrent" in (await res.json())["error"]["message"]
                return res.status

            # concurrent requests: the check holds while the first ones are still starting
            statuses = await asyncio.gather(*(start("alice", f"a{i}") for i in range(5)))
            assert sorted(statuses) == [201, 201, 429, 429, 429]
            assert await start("bob", "b1") == 201
            assert await start("bob", "b2") == 429  # the service is full (3)
            for sid in list(s.manager.running):
                s.manager.leave(sid)
                await s.manager.wait(sid)
            assert await start("bob", "b3") == 201  # capacity comes back when sessions end

    run(main)
