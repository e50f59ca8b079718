"""The report's sampling line: as configured, plus over-capacity slowing and the quality received."""

from __future__ import annotations

from bot.sessions.sampling_note import MAX_CHARS, sampling_note


def test_nothing_to_add_keeps_the_configured_line() -> None:
    assert sampling_note("1 frame per student every 1 s", None, None) == "1 frame per student every 1 s"
    nobody = {"students": 0, "fps_median": None, "size_median": None}
    assert sampling_note("1 frame per student every 1 s", None, nobody) == "1 frame per student every 1 s"


def test_slowed_and_received_are_both_said() -> None:
    line = sampling_note("1 frame per student every 1 s", 1.64,
                         {"students": 48, "fps_median": 4.9, "size_median": "640x480"})
    assert line == ("1 frame per student every 1 s; over capacity: slowed to 1 frame per student every 1.6 s "
                    "at the busiest; video received: 640x480 at 4.9 fps (median of 48 students)")


def test_a_size_without_a_rate_and_a_long_connector_line_fit_the_column() -> None:
    assert sampling_note("x", None, {"students": 1, "fps_median": None, "size_median": "320x240"}) == (
        "x; video received: 320x240 (1 student)")
    long = sampling_note("Zoom sends one student's video at a time " * 6, 3.0, None)
    assert len(long) == MAX_CHARS and long.endswith("…")
