"""The py-spy summary of `classpulse bench --spy`: self vs total shares, per thread."""

from __future__ import annotations

from bot.bench.spy import summarize


def test_self_and_total_shares_and_threads() -> None:
    lines = [
        "thread (0x1);<module> (bot/bench/bot.py:1);run (asyncio/base_events.py:10);recv (aiortc/x.py:5) 6",
        "thread (0x2);work (bot/sessions/sampler.py:290);analyze (analysis/pipeline.py:230);"
        "detect (analysis/detectors/yunet.py:70) 3",
        "thread (0x2);work (bot/sessions/sampler.py:290);analyze (analysis/pipeline.py:230) 1",
        "",
        "garbage line",
    ]
    s = summarize(lines, top=3)
    assert s["samples"] == [("samples", 10.0)]
    assert s["self"][0] == ("recv (aiortc/x.py)", 0.6)
    assert ("detect (analysis/detectors/yunet.py)", 0.3) in s["self"]
    total = dict(summarize(lines, top=10)["total"])
    assert total["analyze (analysis/pipeline.py)"] == 0.4 and total["<module> (bot/bench/bot.py)"] == 0.6
    assert dict(s["threads"]) == {"thread (0x1)": 0.6, "thread (0x2)": 0.4}


def test_excluded_stacks_are_left_out() -> None:
    lines = ["thread (0x1);a (x.py:1) 3", "thread (0x1);_find_and_load (<frozen importlib._bootstrap>);b (y.py:2) 1"]
    assert summarize(lines, exclude=("importlib",))["samples"] == [("samples", 3.0)]
