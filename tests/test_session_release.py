"""A finished session lets go of its analyser at once (no garbage collection needed).

The real analyser holds TFLite interpreters: a thread pool thread, the face-mesh model's
file descriptor and their memory. A session's objects refer to each other, so anything the
sampler kept lived until a full collection: in `serve`, one thread, one fd and ~25 MB per
session (issue 18, item 4; `python -m bot.bench.sessions` measures the real thing).
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from analysis.pipeline import Sample
from analysis.records import Observation, State
from analysis.store import Store
from bot.connectors.fake import FakeConnector, FakeMeeting, solid
from bot.sessions.live import LiveSession
from tests.service_fixtures import make_config, until

pytestmark = pytest.mark.component


class ClosableAnalyzer:
    """Stands in for `Analyzer`: callable, with a close() that frees its models."""

    instances: ClassVar[list[weakref.ref[ClosableAnalyzer]]] = []

    def __init__(self) -> None:
        self.closed = False
        self.calls = 0
        ClosableAnalyzer.instances.append(weakref.ref(self))

    def __call__(self, samples: Sequence[Sample]) -> list[Observation]:
        assert not self.closed, "used after close"
        self.calls += 1
        return [Observation(s.session_id, s.participant_id, s.t, State.ABSENT) for s in samples]

    def close(self) -> None:
        self.closed = True


def test_the_analyser_is_closed_and_freed_when_the_session_ends(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store(config.store.url)
    ClosableAnalyzer.instances.clear()
    gc.collect()
    gc.disable()  # what happens between two collections in a long-running service
    try:
        async def main() -> None:
            meeting = FakeMeeting()
            session = LiveSession(FakeConnector(meeting), config, store, analyze_factory=ClosableAnalyzer,
                                  render=None)
            task = asyncio.ensure_future(session.run())
            await session.in_class.wait()
            meeting.arrive("f1", "Ada", video=solid(90))
            await until(lambda: session.progress()["samples"] >= 3)
            analyzer = ClosableAnalyzer.instances[0]()
            assert analyzer is not None and analyzer.calls >= 1
            del analyzer
            session.request_leave()
            await task
            meeting.stop_all()
            assert ClosableAnalyzer.instances[0]() is None or ClosableAnalyzer.instances[0]().closed  # type: ignore[union-attr]

        asyncio.run(main())
        assert ClosableAnalyzer.instances[0]() is None, "the analyser outlived its session"
    finally:
        gc.enable()
        store.close()
