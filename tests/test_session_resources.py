"""Twenty sessions one after another leave no thread and no file descriptor behind (issue 18, item 4).

Each session is a `sim:` class of two students (real face photos, simulated transport) run
by the production `SessionRunner` with the REAL analyser (face detector and face mesh on
TFLite, the models that leaked a thread and a `face_landmark.tflite` descriptor per session
before; emotions off, because the emotion classifier is loaded once per process and shared,
so it cannot leak per session) and the real HTML report renderer. The test waits on the
runner's own completion (`SessionRunner.wait`), never on a sleep, and then counts the
process's OS threads (/proc/self/task) and open descriptors (/proc/self/fd): after every
session both must equal the baseline exactly.

The baseline is taken after two warm-up sessions, with the event loop's default executor
filled to its fixed size: pools that start their threads lazily and keep them (that
executor, TensorFlow's inter-op pool, SQLite's connection pool) reach their steady state
once, which is not a per-session leak. After each session the counts must come back to the
baseline exactly (a thread still winding down when the session ends gets up to 10 s); a leak
never does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

import pytest

from analysis.store import Store
from bot.connectors.registry import Registry
from bot.db.store import ServiceStore
from bot.sessions.runner import SessionRunner, SessionSpec
from tests.service_fixtures import make_config

pytestmark = pytest.mark.slow
SESSIONS = 20
DEFAULT_WORKERS = 4


def threads() -> int:
    return sum(1 for _ in Path("/proc/self/task").iterdir())


def fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


async def _fill(pool: concurrent.futures.ThreadPoolExecutor, n: int) -> None:
    """Start all `n` threads of `pool` now (each task waits until all have started)."""
    barrier = threading.Barrier(n)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, barrier.wait) for _ in range(n)))


async def _settled(base: tuple[int, int], within_s: float = 10.0) -> tuple[int, int]:
    """The counts once they equal `base`, or as they are after `within_s`: a thread that is still
    winding down when `wait` returns (a decoder finishing its last frame) is not a leak, but one
    that never goes away is, and so is every descriptor that stays."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within_s
    now = (threads(), fds())
    while now != base and loop.time() < end:
        await asyncio.sleep(0.05)
        now = (threads(), fds())
    return now


def test_twenty_sessions_leave_threads_and_descriptors_at_the_baseline(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"analysis": {"sample_interval_s": 0.25, "emotions": False},
                                    "reports": {"out_dir": str(tmp_path / "reports"), "formats": ["html"]}},
                         join_timeout_s=120)
    store = Store(config.store.url)
    db = ServiceStore(store)
    counts: list[tuple[int, int]] = []

    async def one(runner: SessionRunner, n: int) -> None:
        sid = await runner.start(SessionSpec("sim:?students=2&faces=builtin&fps=4", owner="alice",
                                             class_name=f"Class {n}", duration_s=2.0, origin="cli"))
        outcome = await runner.wait(sid)
        assert outcome is not None and outcome.state == "done", outcome
        assert store.observations(sid), f"session {n} sampled nothing"

    async def main() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(DEFAULT_WORKERS, thread_name_prefix="default")
        asyncio.get_running_loop().set_default_executor(pool)
        runner = SessionRunner(config, store, db, Registry(config))
        for n in (-1, 0):  # warm-up: models imported, lazy pools (a second pooled connection) started
            await one(runner, n)
        await _fill(pool, DEFAULT_WORKERS)
        # The store's pool keeps a second connection once two threads used it at once; whether the
        # warm-ups got there depends on timing (the analyser runs in its own process now), so open it.
        with store.engine.connect(), store.engine.connect():
            pass
        base = (threads(), fds())
        counts.append(base)
        for n in range(1, SESSIONS + 1):
            await one(runner, n)
            counts.append(await _settled(base))
        await runner.close()
        pool.shutdown()

    try:
        asyncio.run(main())
    finally:
        store.close()
    base = counts[0]
    print(f"threads, fds: baseline {base}, after each session {counts[1:]}")
    assert counts[1:] == [base] * SESSIONS, f"baseline {base}; after each session: {counts[1:]}"
