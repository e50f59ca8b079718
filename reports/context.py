"""Report contexts: everything a template shows, as formatted strings and finished charts.

Pure functions from (SessionInfo, participants, observations) to frozen dataclasses, so
the numbers a teacher reads can be tested without rendering anything. Templates only lay
the strings out; they compute nothing.

Opted-out participants are dropped before any number is computed: they get no report and
appear only as a count. When a session ran with emotion inference switched off, emotion
probabilities are stripped from the observations as well (even if some were stored), so no
emotion number can leak into engagement or onto a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from analysis import aggregate as agg
from analysis import attendance as att
from analysis import classwide
from analysis import concerns as concern_rules
from analysis.records import Interruption, Observation, Participant, SessionInfo
from model.labels import LABELS
from reports import charts
from reports import format as fmt
from reports.pages import (
    ClassReport,
    ConcernRow,
    EmotionRow,
    Fact,
    Header,
    MomentRow,
    Reports,
    StudentReport,
    StudentRow,
)
from reports.wording import MOMENT_TEXT, reason_text

__all__ = ["ClassReport", "Fact", "Reports", "StudentReport", "build_reports"]

WINDOW_S = 60.0  # windows of the charts, the heatmap and per-student moments (classes > 30 min)
MOMENT_WINDOW_S = 10.0  # windows in which class moments are detected
MAX_MOMENTS = 12
MAX_PERIODS = 20
MOMENTS_RULE = (f"Stretches of {classwide.MOMENT_MIN_WINDOWS * MOMENT_WINDOW_S:g} s or more in which at least "
                f"{fmt.pct(classwide.MOMENT_MIN_SHARE)} of the students with video, and at least "
                f"{classwide.MOMENT_MIN_STUDENTS}, changed at once.")
MIN_BAND_S = 30.0  # shorter camera-off or no-face stretches are not shaded (they would be noise)


@dataclass(frozen=True)
class _Data:
    """The aggregates both report kinds read."""

    info: SessionInfo
    duration_s: float
    window_s: float
    names: dict[str, str]  # participant id → display name, report order
    stems: dict[str, str]
    windows: dict[str, list[agg.Window]]
    summaries: dict[str, agg.StudentSummary]
    series: list[classwide.ClassWindow]
    moments: list[classwide.Moment]  # every class moment, by time
    shown: list[classwide.Moment]  # the strongest MAX_MOMENTS of them, by time
    concerns: dict[str, concern_rules.Concern]
    span: att.ClassSpan | None  # the class from the first to the last student
    attendance: dict[str, att.StudentAttendance]
    roll: att.ClassRoll  # the class's rules and the roster students never seen


def _without_emotions(obs: Observation) -> Observation:
    if all(f.emotions is None for f in obs.faces):
        return obs
    return replace(obs, faces=tuple(replace(f, emotions=None) for f in obs.faces))


def _duration(info: SessionInfo, observations: Sequence[Observation]) -> float:
    last = max((o.t for o in observations), default=0.0)
    stated = fmt.session_seconds(info.started_at, info.ended_at)
    return max(stated or 0.0, last + 1.0 if observations else 0.0)


def _header(info: SessionInfo, duration_s: float, span: att.ClassSpan | None = None) -> Header:
    """Time range and duration of the class itself (first to last student) when anyone came;
    the bot's waiting before and after is stated in the attendance facts."""
    start, end = fmt.parse_time(info.started_at), fmt.parse_time(info.ended_at)
    time_range = ""
    if start is not None and span is not None:
        time_range = f"{start + timedelta(seconds=span.start_s):%H:%M}–{fmt.wall_clock(info.started_at, span.end_s)}"
    elif start is not None:
        time_range = fmt.wall_clock(info.started_at, 0)
        if end is not None:
            time_range = f"{start:%H:%M}–{fmt.wall_clock(info.ended_at, 0)}"
    shown = span.duration_s if span is not None else duration_s
    return Header(class_name=info.class_name, teacher=info.teacher or fmt.MISSING,
                  date=fmt.date_line(info.started_at), time_range=time_range,
                  duration=fmt.duration(shown) if shown else fmt.MISSING,
                  source=info.source, sampling=info.sampling, emotions_enabled=info.emotions_enabled)


def window_for(duration_s: float) -> float:
    """Chart and heatmap window for a class of this length: one minute for a normal lesson,
    shorter for short sessions (10 s up to 10 min, 30 s up to 30 min), so a short class still
    gets enough columns to show a change, and a long one few enough to read."""
    if duration_s <= 600:
        return 10.0
    if duration_s <= 1800:
        return 30.0
    return WINDOW_S


def window_label(window_s: float) -> str:
    return "minute" if window_s == 60 else f"{window_s:g} seconds"


def _prepare(info: SessionInfo, participants: Sequence[Participant],
             observations: Sequence[Observation], roll: att.ClassRoll) -> tuple[_Data, int]:
    opted = {p.participant_id for p in participants if p.opted_out}
    obs = [o for o in observations if o.participant_id not in opted]
    if not info.emotions_enabled:
        obs = [_without_emotions(o) for o in obs]
    known = dict(roll.matched)
    names = {p.participant_id: roster_name(known[p.participant_id], p.display_name) if p.participant_id in known
             else p.display_name for p in participants if not p.opted_out}
    for o in obs:
        names.setdefault(o.participant_id, o.participant_id)  # measured but never listed
    names = dict(sorted(names.items(), key=lambda kv: (kv[1].casefold(), kv[0])))
    duration_s = _duration(info, obs)
    scored = agg.score_all(obs)
    window_s = window_for(duration_s)
    wins = agg.windows_of(scored, window_s, end=duration_s)
    n_cols = agg.window_count(scored, window_s, duration_s)
    for pid in names:  # listed students without samples still get a (no data) row
        wins.setdefault(pid, [agg.Window(pid, i * window_s, (i + 1) * window_s, agg.signals([]), "no_data")
                              for i in range(n_cols)])
    wins = {pid: wins[pid] for pid in names}
    summaries = agg.summarize_of(scored)
    moments = classwide.class_moments(agg.windows_of(scored, MOMENT_WINDOW_S, end=duration_s))
    strongest = sorted(moments, key=lambda m: (-m.share, -m.n_students, m.start - m.end, m.start))
    span = att.class_span({pid: summaries[pid] for pid in names if pid in summaries}, duration_s)
    arrivals = {} if span is None else {
        pid: a for pid in names if pid in summaries and (a := att.student_attendance(
            summaries[pid], span, late_after_s=roll.rules.late_after_s, left_early_s=roll.rules.left_early_s,
            absent_after_s=roll.rules.absent_after_s))}
    data = _Data(
        info=info, duration_s=duration_s, window_s=window_s, names=names,
        stems=fmt.unique_stems(names.items()), windows=wins, summaries=summaries,
        series=classwide.class_series(wins),
        moments=moments, shown=sorted(strongest[:MAX_MOMENTS], key=lambda m: (m.start, m.kind)),
        concerns={c.participant_id: c for c in concern_rules.needs_attention(summaries)},
        span=span, attendance=arrivals, roll=roll)
    return data, len(opted)


def roster_name(roster: str, display: str) -> str:
    """A matched student under their roster name, with the name they used when it differs:
    "Alex Kim (as “Alex's iPhone”)"."""
    return roster if display.casefold() == roster.casefold() else f"{roster} (as “{display}”)"


def build_reports(info: SessionInfo, participants: Sequence[Participant],
                  observations: Sequence[Observation], interruptions: Sequence[Interruption] = (),
                  roll: att.ClassRoll | None = None) -> Reports:
    """Contexts for the class report and one per participant who did not opt out.

    Interruptions (gaps ClassPulse did not record: a crash, a restart, a lost connection) are
    named in every report's data quality, so a gap never reads as the students' absence.
    `roll` (from the caller, who knows the class roster) sets the late / absent thresholds and
    lists roster students never seen: "did not join", or "not visible to ClassPulse" when the
    platform may hide participants from the bot (never counted absent then).
    """
    data, n_opted_out = _prepare(info, participants, observations, roll or att.ClassRoll())
    header = _header(info, data.duration_s, data.span)
    gaps = tuple(interruption_fact(info, g) for g in interruptions)
    students = tuple(replace(r, quality=r.quality + gaps) for r in (_student(data, header, pid) for pid in data.names))
    cls = _class(data, header, n_opted_out)
    return Reports(replace(cls, quality=cls.quality + gaps), students)


REASONS = {"crash": "ClassPulse stopped (crash or restart)",
           "connection_lost": "the connection to the meeting was lost",
           "worker_lost": "the worker running the class was lost", "handover": "handed to another worker",
           "restart": "the service restarted"}


def interruption_fact(info: SessionInfo, gap: Interruption) -> Fact:
    """ "Analysis interrupted  12:10–12:40 UTC": nothing was recorded then; not the students' absence."""
    start, end = fmt.parse_time(gap.from_at), fmt.parse_time(gap.to_at)
    base = fmt.parse_time(info.started_at)
    if start is not None and end is not None and base is not None:
        span = (f"{fmt.wall_clock(info.started_at, (start - base).total_seconds()).split()[0]}–"
                f"{fmt.wall_clock(info.started_at, (end - base).total_seconds())}")
    else:
        span = f"{gap.from_at or '?'}–{gap.to_at or '?'}"
    why = REASONS.get(gap.reason, gap.reason)
    return Fact("Analysis interrupted", span, f"{why}; nothing was recorded then, not counted as absence")


# -- shared pieces ------------------------------------------------------------------------------

def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _emotion_rows(mine: tuple[float, ...] | None,
                  whole: tuple[float, ...] | None = None) -> tuple[EmotionRow, ...]:
    if mine is None:
        return ()
    order = sorted(range(len(LABELS)), key=lambda i: -mine[i])
    return tuple(EmotionRow(LABELS[i].capitalize(), fmt.pct(mine[i]), round(100 * mine[i], 1),
                            fmt.pct(whole[i]) if whole is not None else "") for i in order)


def _moment_row(info: SessionInfo, start: float, end: float, what: str, who: str) -> MomentRow:
    return MomentRow(fmt.clock_span(start, end), fmt.wall_clock(info.started_at, start), what, who)


def _samples_fact(n: int, n_students: int, sampling: str) -> Fact:
    who = "student" if n_students == 1 else "students"
    return Fact("Samples", f"{n:,} from {n_students} {who}", sampling)


# -- the class report ---------------------------------------------------------------------------

def _class_timeline(data: _Data) -> charts.Chart:
    starts = [w.start for w in data.series]
    series = [
        charts.Series("Engagement (0–100)", tuple(w.engagement for w in data.series), charts.BLUE),
        charts.Series("Looking at the screen (%)", tuple(w.attention_share for w in data.series),
                      charts.ORANGE, dash="7 4"),
    ]
    title = "Class engagement and attention over time"
    if data.info.emotions_enabled:
        title = "Class engagement and mood over time"
        series.append(charts.Series("Negative expressions (%)", tuple(w.negative_affect for w in data.series),
                                    charts.VERMILLION, dash="2 3"))
    return charts.line_chart(title, starts, data.window_s, data.duration_s, series)


def _class(data: _Data, header: Header, n_opted_out: int) -> ClassReport:
    sums = [data.summaries[pid] for pid in data.names if pid in data.summaries]
    sigs = [s.signals for s in sums]
    n_samples = sum(s.n_samples for s in sigs)
    n_present = sum(s.n_present for s in sigs)
    has_data = n_samples > 0
    emotions_on = data.info.emotions_enabled
    attendance = (
        Fact("Students", str(len(data.names)),
             f"{n_opted_out} opted out: not measured and not counted" if n_opted_out else ""),
        Fact("Seen on camera", str(sum(s.n_present > 0 for s in sigs))),
        Fact("Camera off the whole time", str(sum(0 < s.n_samples == s.n_camera_off for s in sigs))),
        Fact("No video received", str(len(data.names) - len(sums))),
        Fact("Average presence", fmt.pct(_mean([s.presence_share for s in sigs])),
             "share of camera-on time with a face; camera-off time is not counted"),
        *_roster_facts(data.roll),
        *_waiting_facts(data),
        *_arrival_facts(data),
    )
    low = min((w for w in data.series if w.engagement is not None), key=lambda w: w.engagement or 0.0,
              default=None)
    overview = [
        Fact("Average engagement", fmt.score100(_mean([s.engagement for s in sigs])),
             "0–100, students weighted equally"),
        Fact("Looking at the screen", fmt.pct(_mean([s.attention_share for s in sigs])),
             "of readable samples"),
        Fact("Lowest class engagement", fmt.MISSING if low is None else
             f"{fmt.score100(low.engagement)} (minutes {fmt.clock_span(low.start, low.end)})"),
    ]
    if emotions_on:
        overview.append(Fact("Negative expressions", fmt.pct(_mean([s.negative_affect for s in sigs])),
                             "average share of angry, disgusted, fearful or sad readings"))
    moments = [_moment_row(data.info, m.start, m.end, MOMENT_TEXT[m.kind],
                           f"{m.n_students} of {m.n_with_video} students with video ({fmt.pct(m.share)})")
               for m in data.shown]
    concerns = tuple(
        ConcernRow(data.names[pid], f"students/{data.stems[pid]}",
                   tuple(reason_text(r) for r in c.reasons))
        for pid, c in data.concerns.items())
    rows = []
    for pid, name in data.names.items():
        sig = data.summaries[pid].signals if pid in data.summaries else agg.signals([])
        summary = data.summaries.get(pid)
        rows.append(StudentRow(
            name, f"students/{data.stems[pid]}", fmt.pct(sig.presence_share),
            fmt.pct(sig.attention_share), fmt.score100(sig.engagement), fmt.pct(sig.negative_affect),
            fmt.duration(summary.camera_off_s) if summary and summary.camera_off_s else fmt.MISSING,
            len(data.concerns[pid].reasons) if pid in data.concerns else 0,
            *_in_class_cells(data.attendance.get(pid))))
    rows.extend(_not_seen_row(name, data.roll.sees_everyone) for name in data.roll.not_seen)
    class_emotions = _mean_vector([s.emotions for s in sigs])
    n_uncertain = sum(s.n_uncertain for s in sigs)
    quality = [
        _samples_fact(n_samples, len(sums), data.info.sampling),
        Fact("Uncertain face readings", fmt.pct(n_uncertain / n_present if n_present else None),
             "faces too small, blurred, dark, turned away or low-confidence"),
        Fact("Camera-off time", fmt.duration(sum(s.camera_off_s for s in sums)), "all students added up"),
        Fact("Gaps without samples", fmt.duration(sum(s.gap_s for s in sums)),
             "all students added up; connection drops or overload"),
        Fact("No signal", fmt.duration(sum(b - a for s in sums for a, b in s.no_signal_periods)),
             "all students added up; our side or the network (reconnects, lost streams), not the students"),
    ]
    if data.info.source:
        quality.append(Fact("Source", data.info.source))
    return ClassReport(
        header=header, has_data=has_data, attendance=attendance, overview=tuple(overview),
        timeline=_class_timeline(data) if has_data else None,
        heatmap=charts.heatmap(f"Engagement level per student and {window_label(data.window_s)}",
                               [(data.names[pid], [w.level for w in ws]) for pid, ws in data.windows.items()],
                               data.window_s, data.duration_s) if has_data else None,
        moments=tuple(moments), moments_rule=MOMENTS_RULE, more_moments=len(data.moments) - len(data.shown),
        concerns=concerns, students=tuple(rows),
        emotions=_emotion_rows(class_emotions) if emotions_on else (),
        quality=tuple(quality), n_opted_out=n_opted_out)


def arrival_text(a: att.StudentAttendance) -> str:
    """ "late by 7 min", "left 12 min early", both, or "" (on time and stayed to the end)."""
    parts = []
    if a.counted_absent:
        parts.append(f"counted absent: joined {fmt.duration(a.late_by_s)} after the start")
    if a.late:
        parts.append(f"late by {fmt.duration(a.late_by_s)}")
    if a.left_early:
        parts.append(f"left {fmt.duration(a.left_early_by_s)} early")
    return "; ".join(parts)


def _in_class_cells(a: att.StudentAttendance | None) -> tuple[str, str, str]:
    if a is None:
        return fmt.MISSING, fmt.MISSING, ""
    return fmt.clock_span(a.joined_s, a.left_s), fmt.duration(a.in_class_s), arrival_text(a)


def _waiting_facts(data: _Data) -> tuple[Fact, ...]:
    span = data.span
    if span is None or span.waited_before_s + span.waited_after_s < 1:
        return ()
    return (Fact("Bot in the meeting", fmt.duration(span.session_s),
                 f"waited {fmt.duration(span.waited_before_s)} for the first student and "
                 f"{fmt.duration(span.waited_after_s)} in the empty room after the last one left; "
                 f"the class itself: {fmt.duration(span.duration_s)}"),)


NOT_VISIBLE = "not visible to ClassPulse"
DID_NOT_JOIN = "did not join"


def _not_seen_row(name: str, sees_everyone: bool) -> StudentRow:
    """A roster student no participant matched: no link, no numbers, why they are not there."""
    return StudentRow(name, "", fmt.MISSING, fmt.MISSING, fmt.MISSING, fmt.MISSING, fmt.MISSING, 0,
                      DID_NOT_JOIN if sees_everyone else NOT_VISIBLE, fmt.MISSING, "")


def _roster_facts(roll: att.ClassRoll) -> tuple[Fact, ...]:
    if not roll.roster_size:
        return ()
    facts = [Fact("On the class roster", str(roll.roster_size))]
    if roll.sees_everyone:
        facts.append(Fact("Did not join", str(len(roll.not_seen)), "roster students no participant matched"))
    else:
        facts.append(Fact("Not visible to ClassPulse", str(len(roll.not_seen)),
                          "roster students the platform did not show the bot (it may stream only some "
                          "participants): not counted absent"))
    if roll.unmatched or roll.to_confirm:
        facts.append(Fact("Names not on the roster", str(roll.unmatched),
                          f"{roll.to_confirm} more await the teacher's confirmation" if roll.to_confirm else
                          "shown under the name they used"))
    return tuple(facts)


def _arrival_facts(data: _Data) -> tuple[Fact, ...]:
    if not data.attendance:
        return ()
    rules = data.roll.rules
    late = sum(a.late for a in data.attendance.values())
    early = sum(a.left_early for a in data.attendance.values())
    absent = sum(a.counted_absent for a in data.attendance.values())
    facts = [Fact("Late / left early", f"{late} / {early}",
                  f"joined more than {fmt.duration(rules.late_after_s)} after the first student, or left more "
                  f"than {fmt.duration(rules.left_early_s)} before the last one")]
    if absent:
        facts.append(Fact("Counted absent", str(absent),
                          f"joined more than {fmt.duration(rules.absent_after_s)} after the first student"))
    return tuple(facts)


# -- one student --------------------------------------------------------------------------------

def _runs(windows: Sequence[agg.Window], test: Callable[[agg.Window], bool]) -> list[tuple[float, float]]:
    """Consecutive windows for which `test(window)` holds, as (start, end)."""
    runs: list[tuple[float, float]] = []
    for w in windows:
        if test(w):
            if runs and runs[-1][1] == w.start:
                runs[-1] = (runs[-1][0], w.end)
            else:
                runs.append((w.start, w.end))
    return runs


def _student_moments(data: _Data, pid: str) -> list[MomentRow]:
    wins = data.windows[pid]
    found: list[tuple[float, float, str, str]] = []
    for a, b in _runs(wins, lambda w: w.level == "low"):
        if b - a >= max(2 * data.window_s, 60):
            found.append((a, b, "Low engagement", fmt.duration(b - a)))
    high = max(_runs(wins, lambda w: w.level == "high"), key=lambda r: r[1] - r[0], default=None)
    if high is not None and high[1] - high[0] >= max(3 * data.window_s, 60):
        found.append((*high, "Longest stretch of high engagement", fmt.duration(high[1] - high[0])))
    for a, b in data.summaries[pid].absence_periods:
        if b - a >= 60:
            found.append((a, b, "No face on camera", fmt.duration(b - a)))
    if data.info.emotions_enabled:
        for a, b in _runs(wins, lambda w: (w.signals.negative_affect or 0.0) >= agg.NEGATIVE_TURN
                          and w.level not in ("absent", "camera_off")):
            found.append((a, b, "Mostly negative expression readings", fmt.duration(b - a)))
    found.sort()
    return [_moment_row(data.info, a, b, what, who) for a, b, what, who in found[:MAX_MOMENTS]]


def _class_moment_line(data: _Data, pid: str) -> str:
    """One line naming the listed class moments this student was part of (a row each is noise)."""
    mine = [m for m in data.shown if pid in m.participant_ids]
    if not mine:
        return ""
    kinds = " or ".join(sorted({MOMENT_TEXT[m.kind].removeprefix("Many students ") for m in mine}))
    return (f"Part of {len(mine)} of the {len(data.shown)} class moments listed in the class report "
            f"(when many students {kinds}), at minutes {', '.join(fmt.clock(m.start) for m in mine)}.")


def _student_timeline(data: _Data, pid: str, name: str) -> charts.Chart:
    wins = data.windows[pid]
    summary = data.summaries[pid]
    series = [
        charts.Series(f"{name if len(name) <= 28 else 'This student'} (engagement)",
                      tuple(w.signals.engagement if w.level in ("high", "nominal", "low") else None
                            for w in wins), charts.BLUE, width=2.2),
        charts.Series("Class average", tuple(w.engagement for w in data.series), charts.BLACK,
                      dash="5 3", width=1.3),
    ]
    bands = [charts.Band(a, b, "Camera off", charts.GREY) for a, b in summary.camera_off_periods
             if b - a >= MIN_BAND_S]
    bands += [charts.Band(a, b, "No face on camera", charts.PURPLE) for a, b in summary.absence_periods
              if b - a >= MIN_BAND_S]
    return charts.line_chart("Engagement over time compared with the class average", [w.start for w in wins],
                             data.window_s, data.duration_s, series, bands, strip=[w.level for w in wins])


def _student(data: _Data, header: Header, pid: str) -> StudentReport:
    name, stem = data.names[pid], data.stems[pid]
    summary = data.summaries.get(pid)
    if summary is None or summary.signals.n_samples == 0:
        return StudentReport(header, pid, name, stem, False, (), None, (), (), "", (), (),
                             (_samples_fact(0, 1, data.info.sampling),))
    sig = summary.signals
    class_eng = _mean([s.signals.engagement for s in data.summaries.values()])
    overview = [
        Fact("In the data",
             fmt.clock_span(summary.first_t or 0.0, (summary.last_t or 0.0) + summary.interval_s),
             "; ".join(x for x in ("minutes since the start of class",
                                   arrival_text(data.attendance[pid]) if pid in data.attendance else "") if x)),
        Fact("On camera with a face", fmt.pct(sig.presence_share), "of camera-on time"),
        Fact("Looking at the screen", fmt.pct(sig.attention_share), "of readable samples"),
        Fact("Engagement", fmt.score100(sig.engagement), f"0–100; class average {fmt.score100(class_eng)}"),
        Fact("Compared with their own start", fmt.signed_points(sig.relative_engagement),
             f"points, later in class vs. their first {fmt.duration(agg.BASELINE_S)} on camera"
             if sig.relative_engagement is not None else "needs enough data early and later in class"),
        Fact("Camera off", fmt.duration(summary.camera_off_s) if summary.camera_off_s else "never"),
    ]
    if summary.left_at:
        back = [t for t in summary.left_at if (summary.last_t or 0.0) > t]
        overview.append(Fact("Left the class", ", ".join(f"at {fmt.clock(t)}" for t in summary.left_at),
                             "rejoined later" if back else "did not come back"))
    if summary.no_signal_periods:
        overview.append(Fact("No signal", fmt.duration(sum(b - a for a, b in summary.no_signal_periods)),
                             "our side or the network, not the student: left out of presence"))
    if data.info.emotions_enabled:
        overview.append(Fact("Negative expressions", fmt.pct(sig.negative_affect),
                             "average share of angry, disgusted, fearful or sad readings"))
    class_emotions = _mean_vector([s.signals.emotions for s in data.summaries.values()])
    periods = [f"{fmt.clock_span(a, b)} ({fmt.duration(b - a)})" for a, b in summary.camera_off_periods]
    if len(periods) > MAX_PERIODS:
        periods = [*periods[:MAX_PERIODS], f"and {len(periods) - MAX_PERIODS} more"]
    concern = data.concerns.get(pid)
    quality = (
        _samples_fact(sig.n_samples, 1, data.info.sampling),
        Fact("Uncertain face readings", fmt.pct(sig.uncertain_share),
             "faces too small, blurred, dark, turned away or low-confidence"),
        Fact("Gaps without samples", fmt.duration(summary.gap_s)),
    )
    return StudentReport(
        header=header, participant_id=pid, name=name, stem=stem, has_data=True, overview=tuple(overview),
        timeline=_student_timeline(data, pid, name),
        emotions=_emotion_rows(sig.emotions, class_emotions) if data.info.emotions_enabled else (),
        moments=tuple(_student_moments(data, pid)), class_moments=_class_moment_line(data, pid),
        camera_off=tuple(periods),
        reasons=tuple(reason_text(r) for r in concern.reasons) if concern else (),
        quality=quality)


def _mean_vector(vectors: Sequence[tuple[float, ...] | None]) -> tuple[float, ...] | None:
    known = [v for v in vectors if v is not None]
    if not known:
        return None
    return tuple(sum(v[i] for v in known) / len(known) for i in range(len(known[0])))
