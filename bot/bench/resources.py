"""Memory and thread figures of a process tree, read from /proc, and the RSS slope over a run.

`classpulse bench` samples the bot's own process tree (the bot and any process it starts,
except the load generator, whose memory is not the bot's) once a minute, so a run of ten
minutes says whether memory is flat within a class: a slope in MB per minute, fitted by
least squares over the samples after the warm-up, plus the bot's OS threads at the start
and the end of the window. No psutil: /proc has everything needed and the bench only runs
on Linux (it needs a network namespace).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class TreeSample:
    t: float  # seconds since the measured window began
    rss_mb: float  # resident memory of the whole tree
    threads: int  # OS threads of the tree's root process
    processes: int


def _status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def children(pid: int) -> list[int]:
    """Direct children of `pid` (all its threads' children)."""
    kids: list[int] = []
    for task in (PROC / str(pid) / "task").iterdir():
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended meanwhile
    return kids


def tree(pid: int, exclude: Sequence[int] = ()) -> list[int]:
    """`pid` and its descendants, without the subtrees rooted at `exclude`."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in exclude:
            continue
        out.append(p)
        try:
            todo += children(p)
        except OSError:
            continue
    return out


def sample_tree(t: float, pid: int | None = None, exclude: Sequence[int] = ()) -> TreeSample:
    """RSS of `pid`'s tree (default: this process) and the root's thread count."""
    root = pid if pid is not None else os.getpid()
    rss_kb, n = 0, 0
    for p in tree(root, exclude):
        try:
            rss_kb += int(_status(p).get("VmRSS", "0 kB").split()[0])
            n += 1
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return TreeSample(t=t, rss_mb=rss_kb / 1024, threads=int(_status(root)["Threads"]), processes=n)


def slope_per_min(samples: Sequence[TreeSample], after_s: float) -> float | None:
    """Least-squares RSS slope in MB per minute over the samples at or after `after_s`.

    None with fewer than three such samples: two points are a difference, not a trend.
    """
    pts = [(s.t / 60.0, s.rss_mb) for s in samples if s.t >= after_s]
    if len(pts) < 3:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    var = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / var if var else None


def open_fds(pid: int | None = None) -> int:
    """Open file descriptors of a process (default: this one)."""
    return sum(1 for _ in (PROC / str(pid if pid is not None else os.getpid()) / "fd").iterdir())
