"""`classpulse analyze`: run the analysis pipeline over local images and videos.

Each file is sampled (videos every ``analysis.sample_interval_s`` seconds of media time,
images once at t = 0), all its samples go through `analysis.pipeline.Analyzer`, and the
result is one JSON-ready dict per file. A file that cannot be read gets an ``error``
entry and the others carry on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from analysis.jsonable import observation_json
from bot.config import Config
from bot.sessions.analyzer import settings_from


def analyze_paths(paths: Sequence[str], config: Config, analyzer: Any = None) -> Iterator[dict[str, Any]]:
    """Yield one result dict per path, in order; errors are reported per file."""
    from analysis.media import MediaError, sample_file
    from analysis.pipeline import Analyzer, Sample
    from bot.quiet import quiet_native_stderr

    if analyzer is None:
        with quiet_native_stderr():
            analyzer = Analyzer(settings_from(config))
    for i, path in enumerate(paths):
        pid = f"file{i}"
        result: dict[str, Any] = {"path": path, "samples": []}
        try:
            batch: list[Sample] = []
            for t, frame in sample_file(path, config.analysis.sample_interval_s):
                batch.append(Sample("analyze", pid, t, frame))
                if len(batch) >= 16:
                    result["samples"].extend(observation_json(o) for o in analyzer.analyze(batch))
                    batch = []
            result["samples"].extend(observation_json(o) for o in analyzer.analyze(batch))
        except MediaError as exc:
            result["error"] = str(exc)
        finally:
            analyzer.forget("analyze", pid)
        yield result


def format_result(r: dict[str, Any]) -> str:
    """Plain-text rendering of one file's result for the terminal."""
    lines = [r["path"]]
    if "error" in r:
        lines.append(f"  error: {r['error']}")
    for s in r["samples"]:
        if not s["faces"]:
            lines.append(f"  t={s['t']:7.2f}s  {s['state'].replace('_', ' ')}")
            continue
        for f in s["faces"]:
            x, y, w, h = f["box"]
            parts = [f"t={s['t']:7.2f}s  face {f['id']} at ({x},{y}) {w}x{h}"]
            if "emotion" in f:
                top = sorted(f["probabilities"].items(), key=lambda kv: -kv[1])[:3]
                parts.append(f"{f['emotion']:<8} [" + ", ".join(f"{k} {v:.2f}" for k, v in top) + "]")
            if f["attentive"] is not None:
                parts.append("looking at screen" if f["attentive"] else "looking away")
            if f["eyes_open"] is False:
                parts.append("eyes closed")
            if f["quality"]:
                parts.append("uncertain: " + ",".join(f["quality"]))
            lines.append("  " + "  ".join(parts))
    return "\n".join(lines)
