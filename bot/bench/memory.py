"""Where a bench run's Python memory goes: two tracemalloc snapshots, compared by traceback.

Set ``CLASSPULSE_BENCH_TRACEMALLOC=/path/report.txt`` to run the bench's bot side under
tracemalloc (slower: use it to find a leak, not for the speed figures). Snapshots are taken
at minutes 3 and 8 of the measured window (at 30 % and 80 % of a shorter window); the
report lists the allocation sites that grew most in between, each with its traceback, and
the bench's JSON gets the traced totals and the top sites. Memory that is not allocated by
Python (codec buffers, TensorFlow Lite arenas, glibc fragmentation) does not show here:
compare the traced growth with the RSS slope to tell the two apart.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any

ENV = "CLASSPULSE_BENCH_TRACEMALLOC"
FRAMES = 12
TOP = 25


class TraceMalloc:
    def __init__(self, out: Path, at_s: tuple[float, float]) -> None:
        self.out = out
        self.at_s = at_s
        self.snapshots: list[tuple[float, tracemalloc.Snapshot]] = []
        tracemalloc.start(FRAMES)

    @classmethod
    def from_env(cls, window_s: float) -> TraceMalloc | None:
        path = os.environ.get(ENV)
        if not path:
            return None
        at = (180.0, 480.0) if window_s >= 540 else (0.3 * window_s, 0.8 * window_s)
        return cls(Path(path), at)

    def maybe_snapshot(self, t: float) -> None:
        """Take the next snapshot once its time has come (called from the bench's sampling loop)."""
        if len(self.snapshots) < len(self.at_s) and t >= self.at_s[len(self.snapshots)]:
            snap = tracemalloc.take_snapshot().filter_traces([
                tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")])
            self.snapshots.append((t, snap))

    def finish(self) -> dict[str, Any]:
        """Write the comparison and return its summary; stops tracing."""
        traced_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        if len(self.snapshots) < 2:
            return {"error": "the window ended before the second snapshot", "traced_mb_end": round(traced_mb, 1)}
        (t1, a), (t2, b) = self.snapshots[:2]
        stats = b.compare_to(a, "traceback")
        lines = [f"tracemalloc: growth between t={t1:.0f} s and t={t2:.0f} s of the window, by traceback", ""]
        for st in stats[:TOP]:
            lines.append(f"{st.size_diff / 2**20:+.2f} MB in {st.count_diff:+d} blocks (now {st.size / 2**20:.2f} MB)")
            lines += [f"    {line}" for line in st.traceback.format()]
            lines.append("")
        self.out.write_text("\n".join(lines))
        total = lambda s: sum(x.size for x in s.traces) / 2**20  # noqa: E731
        return {
            "snapshots_s": [round(t1), round(t2)],
            "traced_mb": [round(total(a), 1), round(total(b), 1)],
            "top": [{"mb": round(st.size_diff / 2**20, 2), "blocks": st.count_diff,
                     "where": str(st.traceback[-1]) if len(st.traceback) else "?"} for st in stats[:10]],
            "report": str(self.out),
        }
