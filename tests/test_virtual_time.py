"""The virtual-time loop the sampler tests run on: time jumps exactly, the worker queues like one thread."""

from __future__ import annotations

import asyncio

import pytest

from tests.virtual_time import VirtualTimeLoop, VirtualWorker, run_virtual


def test_sleeping_moves_the_loop_clock_exactly_and_timers_run_in_order() -> None:
    order: list[tuple[str, float]] = []

    async def main(loop: VirtualTimeLoop) -> float:
        start = loop.time()

        async def nap(name: str, seconds: float) -> None:
            await asyncio.sleep(seconds)
            order.append((name, loop.time() - start))

        await asyncio.gather(nap("long", 3600.0), nap("short", 2.5), nap("mid", 60.0))
        return loop.time() - start

    assert run_virtual(main) == 3600.0
    assert order == [("short", 2.5), ("mid", 60.0), ("long", 3600.0)]


def test_the_worker_queues_calls_and_delivers_results_and_errors_when_their_time_is_up() -> None:
    def boom() -> None:
        raise ValueError("bad frame")

    async def main(loop: VirtualTimeLoop) -> tuple[list[tuple[object, float]], VirtualWorker]:
        worker = VirtualWorker(loop, 0.4)
        start = loop.time()
        done: list[tuple[object, float]] = []

        async def call(fn: object) -> None:
            try:
                result: object = await loop.run_in_executor(worker, fn)  # type: ignore[arg-type]
            except ValueError as exc:
                result = str(exc)
            done.append((result, round(loop.time() - start, 6)))

        await asyncio.gather(call(lambda: "a"), call(boom), call(lambda: "c"))
        return done, worker

    done, worker = run_virtual(main)
    assert done == [("a", 0.4), ("bad frame", 0.8), ("c", 1.2)]  # one after another, like one thread
    assert worker.calls == 3 and worker.busy_s == pytest.approx(1.2)
