"""The live view's pure parts: tiles and their order, the attention chart, live class moments,
and the home page's "Today" list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from analysis.records import Observation, State
from bot.db.records import ScheduleRecord
from bot.service.home_view import upcoming
from bot.service.live_feed import LiveFeeds
from bot.service.live_timeline import LiveSettings, LiveTimeline
from bot.service.live_view import (
    LEGEND,
    TILE_TEXT,
    Expected,
    RosterEntry,
    carry_since,
    counts,
    not_arrived,
    roster_names,
    tiles,
)
from bot.service.schedules import make_trigger
from bot.sessions.roster_match import RosterStudent
from model.labels import LABELS
from tests.fixtures_reports import SID, absent, camera_off, present


def mark(pid: str, t: float, state: State) -> Observation:
    return Observation(SID, pid, t, state)


def ts(a: float, b: float, step: float = 1.0) -> list[float]:
    out, t = [], a
    while t < b - 1e-9:
        out.append(round(t, 3))
        t += step
    return out


ROSTER = [RosterEntry("p1", "ada", True), RosterEntry("p2", "Ben", True), RosterEntry("p3", "Cleo", True),
          RosterEntry("p4", "Dan", False), RosterEntry("p5", "Eve", True), RosterEntry("p6", "Finn", True),
          RosterEntry("p7", "Gus", True), RosterEntry("p8", "Hal", True), RosterEntry("p9", "Ida", True)]


def test_tiles_show_each_state_and_put_those_needing_a_look_first() -> None:
    obs = (present("p1", ts(0, 40), attentive=True)
           + camera_off("p2", ts(0, 40))
           + present("p3", ts(0, 20)) + absent("p3", ts(20, 40))
           + present("p4", ts(0, 10)) + [mark("p4", 10.5, State.LEFT)]
           + present("p5", ts(0, 40), attentive=False)
           + [mark("p6", t, State.NO_SIGNAL) for t in ts(30, 40)]
           + [mark("p7", t, State.NOT_SAMPLED) for t in ts(30, 40)]
           + present("p9", ts(0, 40), attentive=True)[:30] + present("p9", ts(30, 40), attentive=False))
    shown = tiles(ROSTER, obs, now=40.0, window_s=30.0)
    assert [(t["name"], t["state"]) for t in shown] == [
        ("Cleo", "absent"), ("Eve", "looking_away"),  # need a look, by name
        ("Ben", "camera_off"),
        ("ada", "present"), ("Hal", "joining"), ("Ida", "present"),  # Ida: 20 of 30 s facing the screen
        ("Finn", "no_signal"), ("Gus", "not_sampled"),
        ("Dan", "left")]
    by = {t["name"]: t for t in shown}
    assert by["Cleo"]["text"] == "No face on camera" and by["Cleo"]["for_s"] == 20.0 and by["Cleo"]["look"]
    assert by["Eve"]["attention"] == 0.0 and by["Eve"]["text"] == "On camera, looking away"
    assert by["ada"]["attention"] == 1.0 and not by["ada"]["look"]
    assert by["Ida"]["attention"] == round(20 / 30, 3)
    assert by["Ben"]["text"] == "Camera off" and by["Ben"]["attention"] is None and not by["Ben"]["look"]
    assert by["Dan"]["text"] == "Left the class" and by["Dan"]["for_s"] is None
    assert by["Finn"]["text"].startswith("No signal (our side")
    assert counts(shown) == {"absent": 1, "looking_away": 1, "camera_off": 1, "present": 2, "joining": 1,
                             "no_signal": 1, "not_sampled": 1, "left": 1}


def test_same_names_sort_by_id_and_a_rejoining_student_is_joining() -> None:
    roster = [RosterEntry("p2", "Alex (2)", True), RosterEntry("p1", "Alex", True), RosterEntry("p3", "alex", True)]
    obs = present("p1", [1, 2]) + present("p2", [1, 2]) + present("p3", [1]) + [mark("p3", 2, State.LEFT)]
    shown = tiles(roster, obs, 3.0, 30.0)
    assert [t["id"] for t in shown] == ["p1", "p3", "p2"]  # "alex" twice (by id), then "alex (2)"
    assert shown[1]["state"] == "joining"


def test_a_state_keeps_its_start_across_pulses() -> None:
    first = tiles([RosterEntry("p1", "Ben", True)], camera_off("p1", ts(0, 30)), 30.0, 30.0)
    remembered = carry_since(first, {}, 30.0)
    later = tiles([RosterEntry("p1", "Ben", True)], camera_off("p1", ts(300, 330)), 330.0, 30.0)
    assert later[0]["for_s"] == 30.0
    carry_since(later, remembered, 330.0)
    assert later[0]["for_s"] == 330.0  # off since t = 0, not only since the window began
    back = tiles([RosterEntry("p1", "Ben", True)], present("p1", ts(330, 335)), 335.0, 30.0)
    assert carry_since(back, remembered, 335.0)["p1"] == ("present", 330.0)


def test_tile_words_never_name_an_emotion() -> None:
    words = " ".join([*TILE_TEXT.values(), *(m for _, m in LEGEND)]).lower()
    assert not [w for w in (*LABELS, "emotion", "mood", "expression") if w in words]


def timeline(**kw: float) -> LiveTimeline:
    return LiveTimeline(window_s=10.0, history_s=kw.get("history_s", 60.0), lag_s=kw.get("lag_s", 3.0),
                        kinds=("looked_away",))


def test_chart_points_one_per_complete_window_over_the_history() -> None:
    tl = timeline()
    obs = present("a", ts(0, 35), attentive=True) + present("b", ts(0, 20), attentive=True) \
        + present("b", ts(20, 35), attentive=False)
    tl.update(obs, now=25.0)  # complete until 25 - 3 = 22: windows 0 and 1
    chart = tl.chart()
    assert chart["end_s"] == 20.0 and len(chart["attention"]) == 6
    assert chart["attention"] == [None, None, None, None, 1.0, 1.0]
    tl.update([o for o in obs if o.t >= tl.read_since(34.0)], now=34.0)  # window 2 completes (20..30)
    assert tl.chart()["attention"][-3:] == [1.0, 1.0, 0.5] and tl.evaluated == 2
    tl.update([], now=34.5)  # nothing new completes: nothing changes
    assert tl.evaluated == 2
    assert tl.read_since(200.0) == 140.0  # after a long pause: only the history span is read
    tl.update(present("a", ts(140, 200)), now=200.0)
    assert tl.chart()["attention"] == [None] + [1.0] * 5 and tl.chart()["end_s"] == 190.0
    assert min(tl.points) == 14  # points older than the history are dropped


def test_a_class_moment_starts_after_two_windows_and_ends() -> None:
    tl = timeline()
    look = present("a", ts(0, 80), attentive=True)
    away = present("b", ts(0, 20)) + absent("b", ts(20, 50)) + present("b", ts(50, 80)) \
        + present("c", ts(0, 20)) + present("c", ts(20, 50), attentive=False) + present("c", ts(50, 80))
    obs = look + away + camera_off("d", ts(0, 80))  # camera off: not among the students with video
    tl.update(obs, now=34.0)  # windows 0..2: one window away (20..30)
    assert tl.snapshot()["moment"] is None
    tl.update([o for o in obs if o.t >= 30], now=44.0)  # window 3 away too: the moment starts at 20 s
    m = tl.snapshot()["moment"]
    assert m["ongoing"] and m["start_s"] == 20.0 and m["end_s"] is None
    assert (m["n_students"], m["n_with_video"]) == (2, 3)
    assert m["text"].startswith("Many students are looking away")
    tl.update([o for o in obs if o.t >= 40], now=64.0)  # windows 4, 5: back at 50 s
    m = tl.snapshot()["moment"]
    assert not m["ongoing"] and m["end_s"] == 50.0 and m["text"].startswith("Many students looked away")
    assert tl.snapshot()["moments"] == 1


def test_one_student_looking_away_is_no_class_moment() -> None:
    tl = timeline()
    obs = present("a", ts(0, 60), attentive=True) + absent("b", ts(0, 60))  # 1 of 2: under 2 students
    tl.update(obs, now=60.0)
    assert tl.snapshot()["moment"] is None


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        LiveSettings(history_s=5, chart_window_s=10)


def row(sid: str, class_id: str, cron: str, tz: str, skip: str = "") -> ScheduleRecord:
    return ScheduleRecord(schedule_id=sid, owner="alice", class_id=class_id, cron=cron, timezone=tz,
                          duration_s=2700, misfire_grace_s=300, created_at="2026-01-01", skip_dates=skip)


def trigger(r: ScheduleRecord) -> object:
    return make_trigger(r.cron, r.timezone)


def test_today_lists_the_runs_left_today_in_each_schedules_zone() -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday; 11:00 in Berlin, 05:00 in New York
    rows = [row("s1", "c1", "15 9,13 * * mon-fri", "Europe/Berlin"),
            row("s2", "c2", "0 8 * * mon", "America/New_York"),
            row("s3", "c3", "0 14 * * mon", "Europe/Berlin", skip="2026-03-02"),
            row("s4", "c4", "0 9 * * wed", "Europe/Berlin")]
    today, after = upcoming(rows, {"c1": "Maths", "c2": "Art", "c3": "Skipped"}, trigger, now)
    assert [(r.class_name, r.local_time, r.starts_in) for r in today] == [
        ("Maths", "13:15 CET", "in 2 h 15 min"), ("Art", "08:00 EST", "in 3 h 00 min")]
    assert after is None
    evening = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 21:00 Berlin, 15:00 New York: nothing left today
    today, after = upcoming(rows, {"c1": "Maths"}, trigger, evening)
    assert today == [] and after is not None
    assert (after.class_name, after.local_day) == ("Maths", "Tue 03 Mar 09:15 CET")


class CountingStore:
    """`Store.observations` over a list, recording each `since_t` asked for."""

    def __init__(self, obs: list[Observation]) -> None:
        self.obs = obs
        self.since: list[float | None] = []

    def observations(self, session_id: str, *, since_t: float | None = None) -> list[Observation]:
        self.since.append(since_t)
        return [o for o in self.obs if since_t is None or o.t >= since_t]


class StandIn:
    """The parts of a LiveSession that the feed reads."""

    def __init__(self, now: float) -> None:
        self.session_id = SID
        self.now = now
        self.roster = self

    def all(self) -> list[Any]:
        return [SimpleNamespace(participant_id="p1", display_name="Ada", present=True)]

    def progress(self) -> dict[str, Any]:
        return {"state": "in_class", "elapsed_s": self.now, "students": 1, "samples": 0}


def test_a_feed_reads_the_history_once_and_viewers_share_a_pulse() -> None:
    async def main() -> None:
        store = CountingStore(present("p1", ts(0, 1200)))
        live = StandIn(now=900.0)
        feeds = LiveFeeds(LiveSettings(), lag_s=3.0, emotions=False, reuse_s=60.0)
        a, b = await asyncio.gather(feeds.pulse(store, live), feeds.pulse(store, live))  # type: ignore[arg-type]
        assert a is b and store.since == [300.0]  # two viewers, one read of the last 10 minutes
        assert "mood" not in a and a["tiles"][0]["state"] == "present"
        assert a["chart"]["attention"] == [None] + [1.0] * 59  # window 29 began before the 10 minutes
        feeds.reuse_s = 0.0
        live.now = 913.0
        await feeds.pulse(store, live)  # type: ignore[arg-type]
        assert store.since[-1] == 883.0  # later pulses: the tiles' 30 s (it covers the new windows too)
        feeds.prune([])
        await feeds.pulse(store, live)  # type: ignore[arg-type]
        assert store.since[-1] == 310.0  # a dropped feed starts again from the history

    asyncio.run(main())


# -- roster students who have not arrived ------------------------------------------------------

EXPECTED = Expected((RosterStudent("rs-1", "Alex Kim", ("Lexi",)), RosterStudent("rs-2", "Mia Wong"),
                     RosterStudent("rs-3", "Jonas Berg", ("Joe",), "jonas@school.example"),
                     RosterStudent("rs-4", "Lena Schmidt"), RosterStudent("rs-5", "Lena Vogel")))


def missing_names(expected: Expected, joined: list[str]) -> list[str]:
    return [t["name"] for t in not_arrived(expected, joined)]


def test_expected_students_nobody_joined_as_get_a_not_arrived_tile() -> None:
    assert missing_names(EXPECTED, []) == ["Alex Kim", "Mia Wong", "Jonas Berg", "Lena Schmidt", "Lena Vogel"]
    # same name with a device note, an alias, an e-mail as the display name
    assert missing_names(EXPECTED, ["Mia Wong (iPad)", "Lexi", "jonas@school.example"]) == ["Lena Schmidt",
                                                                                             "Lena Vogel"]
    # "Lena" could be either Lena: neither is claimed missing; "Alex" is a shortened Alex Kim (awaits confirmation)
    assert missing_names(EXPECTED, ["Lena", "Alex"]) == ["Mia Wong", "Jonas Berg"]
    # a name the teacher confirmed earlier for a student
    confirmed = Expected(EXPECTED.students, confirmed=(("mimi", "rs-2"),))
    assert "Mia Wong" not in missing_names(confirmed, ["Mimi"])
    assert "Mia Wong" in missing_names(EXPECTED, ["Mimi"])
    assert missing_names(EXPECTED, ["Guest 1234"]) == [s.name for s in EXPECTED.students]  # nobody's name
    tile = not_arrived(EXPECTED, [])[0]
    assert tile == {"id": "roster:rs-1", "name": "Alex Kim", "state": "not_arrived", "text": "Not arrived yet",
                    "for_s": None, "attention": None, "look": False}


def test_participants_certainly_on_the_roster_show_their_roster_name() -> None:
    shown = roster_names(EXPECTED, ["Lexi", "mia wong", "Jonas Berg (phone)", "Alex", "Lena", "Guest"])
    assert shown == {"Lexi": "Alex Kim (as “Lexi”)", "mia wong": "Mia Wong",
                     "Jonas Berg (phone)": "Jonas Berg (as “Jonas Berg (phone)”)"}  # proposals keep their name


def test_on_zoom_the_tile_says_not_visible_and_sorts_with_states_that_say_nothing() -> None:
    zoom = Expected(EXPECTED.students[:1], sees_everyone=False)
    assert [(t["state"], t["text"]) for t in not_arrived(zoom, [])] == [("not_visible", "Not visible to ClassPulse")]
    joined = [RosterEntry("p1", "Mia Wong", True), RosterEntry("p2", "Zed", False)]
    obs = [*camera_off("p1", ts(0, 30))]
    shown = tiles(joined, obs, 30.0, 30.0, not_arrived(EXPECTED, ["Mia Wong", "Zed"]))
    # camera off and not arrived share a group (by name), before the present; left last
    assert [(t["name"], t["state"]) for t in shown] == [
        ("Alex Kim", "not_arrived"), ("Jonas Berg", "not_arrived"), ("Lena Schmidt", "not_arrived"),
        ("Lena Vogel", "not_arrived"), ("Mia Wong", "camera_off"), ("Zed", "left")]
    hidden = tiles(joined, obs, 30.0, 30.0, not_arrived(zoom, ["Mia Wong"]))
    assert [t["state"] for t in hidden] == ["camera_off", "not_visible", "left"]
    assert counts(shown)["not_arrived"] == 4


def test_a_feed_reads_who_was_expected_at_most_every_30_s() -> None:
    async def main() -> None:
        store = CountingStore(present("p1", ts(0, 60)))
        live = StandIn(now=60.0)  # "Ada" joined
        reads: list[str] = []
        clock = [0.0]

        def expected(session_id: str) -> Expected:
            reads.append(session_id)
            return Expected((RosterStudent("rs-1", "Ada Lovelace", ("Ada",)), RosterStudent("rs-2", "Ben Okafor")))

        feeds = LiveFeeds(LiveSettings(), lag_s=3.0, emotions=False, reuse_s=0.0, expected=expected,
                          clock=lambda: clock[0])
        pulse = await feeds.pulse(store, live)  # type: ignore[arg-type]
        assert [(t["name"], t["state"]) for t in pulse["tiles"]] == [("Ben Okafor", "not_arrived"),
                                                                     ("Ada Lovelace (as “Ada”)", "present")]
        clock[0] = 29.0
        await feeds.pulse(store, live)  # type: ignore[arg-type]
        assert reads == [SID]
        clock[0] = 30.0
        await feeds.pulse(store, live)  # type: ignore[arg-type]
        assert reads == [SID, SID]

    asyncio.run(main())
