"""`python -m bot.bench.spy FILE`: the top of a py-spy profile (collapsed stacks) as a table.

`classpulse bench --spy FILE` records the bot process with py-spy (`--format raw`: one line
per distinct stack, ``frame;frame;...;frame COUNT``, outermost first). This prints the
functions that were on CPU most: *self* counts a sample for the innermost frame only,
*total* for every function anywhere on the stack (once per sample), both as a share of all
samples. The thread name py-spy puts first on each stack is summed separately, which tells
the event loop's thread from the analysis worker's.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LOCATION = re.compile(r"\s*\((?P<file>[^():]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    """``analyze (analysis/pipeline.py:230)`` → ``analyze (analysis/pipeline.py)``; paths trimmed."""
    m = _LOCATION.search(frame)
    if not m:
        return frame.strip()
    name = frame[: m.start()].strip()
    path = m.group("file")
    for marker in ("site-packages/", "/lib/python3", "wt-capacity/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summarize(lines: list[str], top: int = 20, exclude: tuple[str, ...] = ()) -> dict[str, list[tuple[str, float]]]:
    """(name, share of samples) for the `top` self and total functions, and per thread; stacks
    with any of the `exclude` substrings (e.g. "importlib": start-up) are left out."""
    selfs: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    n = 0
    for line in lines:
        line = line.strip()
        if not line or " " not in line:
            continue
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        if any(x in stack for x in exclude):
            continue
        frames = stack.split(";")
        if frames and frames[0].startswith(("thread", "process")):
            threads[frames[0]] += count
            frames = [f for f in frames if not f.startswith(("thread", "process"))]
        if not frames:
            continue
        n += count
        names = [_short(f) for f in frames]
        selfs[names[-1]] += count
        for name in set(names):
            totals[name] += count
    share = (lambda c: [(k, round(v / n, 4)) for k, v in c.most_common(top)]) if n else (lambda c: [])
    return {"self": share(selfs), "total": share(totals), "threads": share(threads),
            "samples": [("samples", float(n))]}


def markdown(summary: dict[str, list[tuple[str, float]]]) -> str:
    out = [f"{int(summary['samples'][0][1]) if summary['samples'] else 0} samples"]
    for key in ("self", "total", "threads"):
        out += ["", f"| {key} | share |", "|---|---|"]
        out += [f"| `{name}` | {share:.1%} |" for name, share in summary[key]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", type=Path)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--exclude", action="append", default=[],
                   help="leave out stacks containing this text (repeatable), e.g. importlib (start-up)")
    args = p.parse_args(argv)
    print(markdown(summarize(args.file.read_text().splitlines(), args.top, tuple(args.exclude))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
