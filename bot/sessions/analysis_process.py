"""The analyser in its own process: the second core for analysis, no GIL shared with receiving.

In one process the session's event loop (receive, SRTP, VP8 hand-off), the decoder threads
and the analysis thread share one GIL: profiled under load the analysis thread spent most of
its time waiting for it (docs/bot.md, "Cost model"). `AnalysisProcess` runs the analyser
(`analysis.pipeline.Analyzer`, which keeps per-student trackers) in a child process
(`bot.sessions.analysis_child`) and is a drop-in `Analyze` callable for the sampler: its
`analyze` runs on the sampler's worker thread, copies the tick's frames into shared memory
(`bot.sessions.frame_arena`), sends the slot table, and blocks on the socket — without the
GIL — until the observations come back pickled.

Faults stay inside the session:

- the child dies during a tick (killed, out of memory, a native crash): that call raises
  `AnalysisProcessDied` (the sampler counts an error and goes on) and the next call starts a
  fresh child — its trackers start afresh, so face ids restart; each restart logs one
  WARNING and counts in `restarts` (the sampler's stats and the session's progress);
- a child found dead between ticks is restarted before the tick, which is then analysed;
- a child that does not answer within `call_timeout_s` is killed (then as above);
- a child that cannot start raises `AnalysisProcessError` with its traceback's last line;
  after a failed restart further starts wait 1, 2, 4 … 60 s (each call meanwhile raises).

Each session has its own child, so one session's crash never touches another's.
`close()` stops the child (it exits at once, skipping interpreter teardown) and unlinks the
shared memory; a `weakref.finalize` does the same for an instance dropped without `close()`.

Frames are not downscaled before copying: observation boxes are stored in the frame's
pixels, and the detectors already search a reduced copy (YuNet at half size, BlazeFace at
128x128), with `min_face_px` measured on the full frame.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from bot.sessions.frame_arena import FrameArena
from bot.spawn import spawn_module

if TYPE_CHECKING:
    from analysis.pipeline import Sample
    from analysis.records import Observation

log = logging.getLogger(__name__)

CHILD_MODULE = "bot.sessions.analysis_child"


class AnalysisProcessError(RuntimeError):
    """The analysis process could not start, or failed a request."""


class AnalysisProcessDied(AnalysisProcessError):
    """The analysis process ended (or was killed for not answering) during a request."""


@dataclass
class Transport:
    """Cumulative seconds of the calls, for the bench: what the hand-over costs beside the analysis."""

    calls: int = 0
    samples: int = 0
    pack_s: float = 0.0  # copying frames into shared memory
    call_s: float = 0.0  # the whole call, as the sampler's worker sees it
    child_s: float = 0.0  # the analyser's own time in the child

    def add(self, samples: int, pack_s: float, call_s: float, child_s: float) -> None:
        self.calls += 1
        self.samples += samples
        self.pack_s += pack_s
        self.call_s += call_s
        self.child_s += child_s


class _Child:
    """One running child: its process and our end of the socket."""

    def __init__(self, proc: subprocess.Popen[bytes], conn: Connection) -> None:
        self.proc = proc
        self.conn = conn

    def stop(self, wait_s: float) -> None:
        """Ask it to stop, then kill it if it has not exited within `wait_s`; always reaped."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop",))
        try:
            self.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def how_it_ended(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class _State:
    """What a finalizer needs to clean up, without referring to the `AnalysisProcess` itself."""

    def __init__(self) -> None:
        self.child: _Child | None = None
        self.arena = FrameArena()

    def shutdown(self, wait_s: float = 5.0) -> None:
        child, self.child = self.child, None
        if child is not None:
            child.stop(wait_s)
        self.arena.close()


class AnalysisProcess:
    """Runs `factory(*args)` (an importable top-level function returning an object with
    `analyze(samples)`, and optionally `describe()`, `timings` and `close()`) in a child process.

    Use the bound method `analyze` as the sampler's `Analyze`: the sampler and the session
    reach `close()` and `describe()` through its `__self__`.
    """

    def __init__(self, factory: Callable[..., Any], args: Sequence[Any] = (), *, start_timeout_s: float = 180.0,
                 call_timeout_s: float = 120.0, stop_wait_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, python: str = sys.executable) -> None:
        self._payload = pickle.dumps((factory, tuple(args)))  # fails here, clearly, for a lambda
        self.start_timeout_s = start_timeout_s
        self.call_timeout_s = call_timeout_s
        self.stop_wait_s = stop_wait_s
        self._clock = clock
        self._python = python
        self._state = _State()
        self._lock = threading.Lock()
        self._closed = False
        self._backoff_s = 0.0
        self._retry_at = float("-inf")
        self.restarts = 0
        self.timings: Any = None  # the child analyser's cumulative stage timings (a namespace), if any
        self.transport = Transport()
        self._finalizer = weakref.finalize(self, self._state.shutdown)
        self._start()

    # -- the child's life ------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        child = self._state.child
        return child.proc.pid if child is not None and child.proc.poll() is None else None

    def _start(self) -> None:
        # The frame segments are registered with multiprocessing's resource tracker (one helper
        # process per bot process, for good), which unlinks them should the bot die. Start it
        # now, with the first analysis process, rather than at the first frame of some tick.
        resource_tracker.ensure_running()
        proc, ours = spawn_module(self._python, CHILD_MODULE)
        child = _Child(proc, Connection(ours.detach()))
        try:
            child.conn.send(([p for p in sys.path if isinstance(p, str)], self._payload))
            if not child.conn.poll(self.start_timeout_s):
                raise AnalysisProcessError(f"the analysis process did not start within {self.start_timeout_s:g} s")
            reply = child.conn.recv()
        except BaseException as exc:
            child.kill()
            child.conn.close()
            if isinstance(exc, (EOFError, OSError)):
                raise AnalysisProcessError(
                    f"the analysis process ended while starting ({child.how_it_ended()})") from exc
            raise
        if reply[0] != "ready":
            child.stop(self.stop_wait_s)
            last = str(reply[1]).strip().splitlines()[-1:] or ["?"]
            raise AnalysisProcessError(f"the analysis process could not build the analyser: {last[0]}\n{reply[1]}")
        self._state.child = child

    def _ensure_child(self) -> _Child:
        """The running child; a dead one is reaped and replaced (one WARNING per restart)."""
        child = self._state.child
        if child is not None and child.proc.poll() is not None:
            self._lost(child)
            child = None
        if child is not None:
            return child
        if self._clock() < self._retry_at:
            raise AnalysisProcessError(f"the analysis process is down; next start in "
                                       f"{self._retry_at - self._clock():.0f} s")
        self.restarts += 1
        log.warning("restarting the analysis process (restart %d): face trackers start afresh", self.restarts)
        try:
            self._start()
        except AnalysisProcessError:
            self._backoff_s = min(60.0, max(1.0, 2 * self._backoff_s))
            self._retry_at = self._clock() + self._backoff_s
            raise
        self._backoff_s = 0.0
        assert self._state.child is not None
        return self._state.child

    def _lost(self, child: _Child) -> str:
        child.kill()
        child.conn.close()
        self._state.child = None
        return child.how_it_ended()

    def _ask(self, msg: tuple[Any, ...]) -> Any:
        child = self._ensure_child()
        try:
            child.conn.send(msg)
            if not child.conn.poll(self.call_timeout_s):
                self._lost(child)
                raise AnalysisProcessDied(f"the analysis process did not answer within {self.call_timeout_s:g} s "
                                          "and was killed; it restarts at the next tick")
            reply = child.conn.recv()
        except (EOFError, OSError) as exc:
            ended = self._lost(child)
            raise AnalysisProcessDied(f"the analysis process (pid {child.proc.pid}) died: {ended}; "
                                      "it restarts at the next tick") from exc
        if reply[0] == "error":
            raise AnalysisProcessError(f"the analyser failed in the analysis process:\n{reply[1]}")
        return reply

    # -- the Analyze interface -------------------------------------------------------------
    def analyze(self, samples: Sequence[Sample]) -> list[Observation]:
        """One tick: frames through shared memory, observations back pickled."""
        with self._lock:
            if self._closed:
                raise AnalysisProcessError("the analysis process is closed")
            self._ensure_child()  # before packing: a restart must not race the segment
            t0 = time.perf_counter()
            frames = [s.frame for s in samples if s.frame is not None]
            name, slots = self._state.arena.pack(frames) if frames else (None, [])
            it = iter(slots)
            items = [(s.session_id, s.participant_id, s.t, None if s.frame is None else next(it)) for s in samples]
            t1 = time.perf_counter()
            _, observations, timings, child_s = self._ask(("analyze", name, items))
            if timings is not None:
                self.timings = SimpleNamespace(**timings)
            self.transport.add(len(samples), t1 - t0, time.perf_counter() - t0, child_s)
            return list(observations)

    def describe(self) -> dict[str, Any]:
        """The child analyser's `describe()` (what the session records it read with)."""
        with self._lock:
            if self._closed:
                raise AnalysisProcessError("the analysis process is closed")
            described: dict[str, Any] = self._ask(("describe",))[1]
            return described

    def close(self) -> None:
        """Stop the child and unlink the shared memory (idempotent)."""
        with self._lock:
            self._closed = True
            self._state.shutdown(self.stop_wait_s)
            self._finalizer.detach()
