"""Virtual time for asyncio unit tests: exact behaviour over time without sleeping.

`run_virtual(main)` runs a coroutine on an event loop whose clock only moves when the
loop has nothing to do: then it jumps straight to the next timer. ``asyncio.sleep(10)``
returns at once in wall time and exactly 10 s later in loop time, so a test can assert
exact counts ("six ticks in 0.6 s") that real time on a busy CI machine would make flaky.

Work the code under test hands to an executor runs on `VirtualWorker`: one worker whose
every call takes a chosen number of *virtual* seconds. The call itself runs at once (on
the loop's thread, so nothing races the clock), and its result is delivered when the
modelled duration has passed, so "inference takes 0.4 s" is exact and costs no wall time.
A real thread pool cannot be used under virtual time: the clock would jump while a real
thread works.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real file descriptors without blocking; when none is ready, time jumps by `timeout`."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # Nothing is scheduled: only another thread can wake the loop (call_soon_threadsafe).
            return super().select(None)
        self._clock.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock or VirtualClock()
        super().__init__(_VirtualSelector(self.clock))

    def time(self) -> float:
        return self.clock.now


class VirtualWorker(Executor):
    """A one-thread executor in virtual time: each call runs now and is done `duration_s` later.

    Calls queue behind each other like on one real worker thread. `calls` counts them and
    `busy_s` sums their modelled time, so a test can check what ran off the event loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, duration_s: float | Callable[[], float] = 0.0) -> None:
        self._loop = loop
        self._duration = duration_s
        self._free_at = float("-inf")
        self.calls = 0
        self.busy_s = 0.0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        duration = self._duration() if callable(self._duration) else self._duration
        start = max(self._loop.time(), self._free_at)
        self._free_at = start + duration
        self.calls += 1
        self.busy_s += duration
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # delivered like a real executor delivers it
            self._loop.call_at(self._free_at, _settle, future, None, exc)
        else:
            self._loop.call_at(self._free_at, _settle, future, result, None)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def _settle(future: Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.set_running_or_notify_cancel():
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def run_virtual(main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, T]], start: float = 1000.0) -> T:
    """Run `main(loop)` to completion on a fresh virtual-time loop; closes the loop after."""
    loop = VirtualTimeLoop(VirtualClock(start))
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main(loop))
    finally:
        asyncio.set_event_loop(None)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
