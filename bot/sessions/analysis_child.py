"""The analysis process's main loop: builds the analyser, answers one tick at a time.

Started by `bot.sessions.analysis_process.AnalysisProcess` as
``python -m bot.sessions.analysis_child FD`` — a fresh interpreter, as multiprocessing's
`spawn` would give, but without re-importing the parent's ``__main__`` module (spawn does
that for ``python -m bot.bench.bot`` or the ``classpulse`` script, which would drag aiortc and
PyAV into this process; PyAV imported after TensorFlow segfaults on our machines). This
module and what it imports at the top are therefore stdlib and numpy only; the analyser's
factory (an importable top-level function, sent pickled by reference) imports `analysis`
and `model`, never `aiortc`/`av`.

Protocol over the socket `FD` (`multiprocessing.connection` framing, pickled tuples):

- first message ``(sys_path, payload)``: the parent's import path, then the pickled
  ``(factory, args)``; the answer is ``("ready", pid)`` or ``("failed", traceback text)``;
- ``("analyze", segment name or None, [(session_id, participant_id, t, Slot or None), ...])``
  → ``("ok", observations, timings or None, seconds spent analysing)``; frames are read from shared memory
  (`bot.sessions.frame_arena`), observations come back pickled (small frozen dataclasses);
- ``("describe",)`` → ``("ok", analyser.describe(), None, 0.0)``;
- ``("stop",)`` → closes the analyser and exits at once; so does a closed socket (the bot
  died): the process never outlives its parent's connection.

An exception in the analyser answers ``("error", text)`` and the process goes on.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from bot.sessions.frame_arena import ArenaReader

log = logging.getLogger("classpulse.analysis_child")

#: Receiving must never fall behind (a student whose packets wait loses ICE consent and drops
#: out), while analysis can: the sampler defers ticks and samples everybody less often. So the
#: analysis process yields the CPU to the bot's receive path (same session, so `nice` applies
#: between them even with the kernel's autogroups) and uses what receiving leaves.
NICE = 10


def live_analyzer(settings: Any) -> Any:
    """The real analyser for a live session (`analysis.pipeline.Analyzer`), model loaded now."""
    from analysis.pipeline import Analyzer

    analyzer = Analyzer(settings)
    if settings.emotions:
        _ = analyzer.classifier  # load before class starts, not at the first face
    return analyzer


def timings_of(analyzer: Any) -> dict[str, Any] | None:
    """The analyser's cumulative stage timings as plain numbers (for the bench), if it keeps any."""
    t = getattr(analyzer, "timings", None)
    if t is None or not hasattr(t, "__dict__"):
        return None
    out = {k: v for k, v in vars(t).items() if k != "per_call"}
    return {k: dict(v) if isinstance(v, dict) else v for k, v in out.items()}


def _analyze(analyzer: Any, reader: ArenaReader, name: str | None, items: list[tuple[Any, ...]]) -> list[Any]:
    from analysis.pipeline import Sample

    slots = [slot for *_, slot in items if slot is not None]
    frames = iter(reader.frames(name, slots) if slots and name is not None else [])
    samples = [Sample(sid, pid, t, None if slot is None else next(frames)) for sid, pid, t, slot in items]
    try:
        return list(analyzer.analyze(samples))
    finally:
        del samples, frames  # no frame view may outlive the tick: the segment can be replaced


def serve(conn: Connection, analyzer: Any) -> None:
    """Answer requests until "stop" or the parent's end of the socket closes."""
    reader = ArenaReader()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return  # the bot is gone
            kind = msg[0]
            if kind == "stop":
                return
            try:
                if kind == "analyze":
                    t0 = time.perf_counter()
                    out = _analyze(analyzer, reader, msg[1], msg[2])
                    reply: tuple[Any, ...] = ("ok", out, timings_of(analyzer), time.perf_counter() - t0)
                elif kind == "describe":
                    describe = getattr(analyzer, "describe", None)
                    if describe is None:
                        raise AttributeError(f"{type(analyzer).__name__} has no describe()")
                    reply = ("ok", describe(), None, 0.0)
                else:
                    raise ValueError(f"unknown request {kind!r}")
            except Exception:
                reply = ("error", traceback.format_exc(limit=8))
            try:
                conn.send(reply)
            except (EOFError, OSError):
                return
    finally:
        reader.close()
        close = getattr(analyzer, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                log.exception("closing the analyser failed")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m bot.sessions.analysis_child FD (started by the bot, not by hand)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the bot's to handle; it stops us
    os.nice(NICE)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s analysis process: %(message)s")
    conn = Connection(int(args[0]))
    try:
        sys_path, payload = conn.recv()
    except (EOFError, OSError):
        return 1
    sys.path[:0] = [p for p in sys_path if p not in sys.path]
    try:
        factory, fargs = pickle.loads(payload)
        analyzer = factory(*fargs)
    except BaseException:
        conn.send(("failed", traceback.format_exc(limit=8)))
        return 1
    conn.send(("ready", os.getpid()))
    serve(conn, analyzer)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (TensorFlow's can take seconds): the bot waits for us
