"""SVG charts of a course across a term: the class per session, and one small chart per student.

Sessions sit at equal steps (lesson 1, 2, 3, …), not on a calendar axis: a holiday week
would otherwise read as a gap in the data. Sessions ClassPulse did not record are shaded and
break the lines; they are never drawn as a fall. Same palette, fonts and escaping as
`reports.charts` (display names are untrusted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

from analysis.course import CellStatus, ClassSession, StudentSession, StudentTrend
from reports.charts import (
    BLACK,
    BLUE,
    FONT,
    GREEN,
    GREY,
    LIGHT_GREY,
    ORANGE,
    SKY,
    VERMILLION,
    WIDTH,
    Chart,
    _legend,
    _svg,
)

#: One colour per attendance cell; not recorded is light grey, not enrolled blank.
CELL_COLOURS: dict[str, str] = {"present": SKY, "late": ORANGE, "absent": VERMILLION,
                                "not_recorded": LIGHT_GREY, "not_enrolled": "#FFFFFF"}
CELL_NAMES: dict[str, str] = {"present": "present", "late": "late", "absent": "absent",
                              "not_recorded": "not recorded", "not_enrolled": "not enrolled"}


def cell_kind(c: StudentSession) -> str:
    """present, late, absent, not_recorded or not_enrolled."""
    status: CellStatus = c.status
    if status == "attended":
        return "late" if c.late else "present"
    return status


@dataclass(frozen=True)
class Line:
    label: str
    values: tuple[float | None, ...]
    colour: str
    dash: str = ""
    width: float = 2.0


def _polylines(values: Sequence[float | None], px: Sequence[float], py: Callable[[float], float],
               line: Line) -> list[str]:
    out: list[str] = []
    seg: list[str] = []
    dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
    for x, v in [*zip(px, values, strict=True), (0.0, None)]:
        if v is not None:
            seg.append(f"{x:.1f},{py(v):.1f}")
            continue
        if len(seg) > 1:
            out.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{line.colour}" '
                       f'stroke-width="{line.width}" stroke-linejoin="round"{dash}/>')
        elif seg:
            cx, cy = seg[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="{line.width + 0.6:.1f}" fill="{line.colour}"/>')
        seg = []
    return out


def _plot(x0: float, pw: float, top: float, ph: float, n: int, lines: Sequence[Line],
          gaps: Sequence[int], grid: Sequence[int], label_size: float) -> list[str]:
    step = pw / max(n, 1)
    xs = [x0 + step * (i + 0.5) for i in range(n)]

    def py(v: float) -> float:
        return top + ph * (1 - max(0.0, min(1.0, v)))

    body = [f'<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="#FFFFFF" stroke="#BBB" stroke-width="0.5"/>']
    for i in gaps:
        body.append(f'<rect x="{x0 + step * i:.1f}" y="{top}" width="{step:.1f}" height="{ph}" '
                    f'fill="{LIGHT_GREY}" fill-opacity="0.7"/>')
    for tick in grid:
        y = py(tick / 100)
        body.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#E3E3E3"/>'
                    f'<text x="{x0 - 3}" y="{y + label_size / 3:.1f}" font-size="{label_size}" text-anchor="end" '
                    f'fill="#333">{tick}</text>')
    for line in lines:
        body += _polylines(line.values, xs, py, line)
    return body


def term_chart(sessions: Sequence[ClassSession], labels: Sequence[str]) -> Chart:
    """The class per session: presence, attention and engagement (0–100), not-recorded sessions shaded."""
    width, x0, top, ph = float(WIDTH), 34.0, 26.0, 140.0
    pw = width - x0 - 10
    n = len(sessions)
    lines = [Line("On camera", tuple(s.presence for s in sessions), GREEN, "6 3"),
             Line("Looking at the screen", tuple(s.attention for s in sessions), BLUE),
             Line("Engagement", tuple(s.engagement for s in sessions), ORANGE, "2 2")]
    gaps = [i for i, s in enumerate(sessions) if not s.recorded]
    body = _plot(x0, pw, top, ph, n, lines, gaps, (0, 25, 50, 75, 100), 10)
    step = pw / max(n, 1)
    every = max(1, -(-n // 16))  # at most 16 labels
    axis_y = top + ph
    for i, label in enumerate(labels):
        x = x0 + step * (i + 0.5)
        mark = sessions[i].settings_changed
        if mark:
            body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="{BLACK}" '
                        f'stroke-width="0.8" stroke-dasharray="1 2"/>'
                        f'<text x="{x + 2:.1f}" y="{top + 9}" font-size="9" fill="{BLACK}">Δ</text>')
        if i % every == 0 or mark:
            body.append(f'<text x="{x:.1f}" y="{axis_y + 13}" font-size="9" text-anchor="middle" '
                        f'fill="#333">{escape(label)}</text>')
    body.append(f'<text x="{x0 + pw / 2}" y="{axis_y + 27}" font-size="10" text-anchor="middle" fill="#333">'
                f'sessions (grey: not recorded by ClassPulse; Δ: model or analysis settings changed)</text>')
    body += _legend([(ln.label, ln.colour, ln.dash) for ln in lines], x0, 14)[0]
    alt = "The class across the term. " + " ".join(_describe(ln, labels) for ln in lines)
    if gaps:
        alt += f" Not recorded: {', '.join(labels[i] for i in gaps)}."
    return Chart(_svg(axis_y + 34, body, alt), alt)


def _describe(line: Line, labels: Sequence[str]) -> str:
    known = [(v, labels[i]) for i, v in enumerate(line.values) if v is not None]
    if not known:
        return f"{line.label}: no data."
    mean = sum(v for v, _ in known) / len(known)
    lo, hi = min(known), max(known)
    return (f"{line.label}: mean {round(mean * 100)}, lowest {round(lo[0] * 100)} ({lo[1]}), "
            f"highest {round(hi[0] * 100)} ({hi[1]}).")


SMALL_W, SMALL_H = 220.0, 92.0


def student_multiple(name: str, trend: StudentTrend, sessions: Sequence[ClassSession]) -> Chart:
    """One student's term beside the class: their attention and presence, the class's attention,
    and a strip with each session's attendance (absent in vermillion, not recorded in grey)."""
    n = len(sessions)
    x0, top, ph = 22.0, 4.0, 56.0
    pw = SMALL_W - x0 - 4
    cells = trend.sessions
    lines = [Line("class: looking at the screen", tuple(s.attention for s in sessions), GREY, "3 2", 1.2),
             Line("on camera", tuple(c.presence if c.status == "attended" else None for c in cells), GREEN, "4 2", 1.4),
             Line("looking at the screen", tuple(c.attention if c.status == "attended" else None for c in cells),
                  BLUE, "", 1.8)]
    gaps = [i for i, s in enumerate(sessions) if not s.recorded]
    body = _plot(x0, pw, top, ph, n, lines, gaps, (0, 50, 100), 7)
    step = pw / max(n, 1)
    sy = top + ph + 4
    for i, c in enumerate(cells):
        kind = cell_kind(c)
        body.append(f'<rect x="{x0 + step * i + 0.4:.1f}" y="{sy}" width="{max(step - 0.8, 0.6):.1f}" height="8" '
                    f'fill="{CELL_COLOURS[kind]}" stroke="#999" stroke-width="0.3"/>')
        if kind == "absent":
            cx = x0 + step * (i + 0.5)
            body.append(f'<text x="{cx:.1f}" y="{sy + 6.8:.1f}" font-size="7" text-anchor="middle" '
                        f'fill="#FFFFFF">A</text>')
    body.append(f'<text x="{x0}" y="{sy + 20:.1f}" font-size="8" fill="#333">1</text>'
                f'<text x="{x0 + pw}" y="{sy + 20:.1f}" font-size="8" text-anchor="end" fill="#333">{n}</text>')
    missed = sum(cell_kind(c) == "absent" for c in cells)
    alt = (f"{name}: attended {trend.attended} of {trend.attended + trend.absent} recorded sessions "
           f"({trend.late} late, {missed} absent, {trend.not_recorded} not recorded); "
           f"looking at the screen {_pct(trend.attention)} on average against the class's "
           f"{_pct(_mean(s.attention for s in sessions))}; on camera {_pct(trend.presence)}.")
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SMALL_W:.0f} {SMALL_H:.0f}" '
           f'width="{SMALL_W:.0f}" height="{SMALL_H:.0f}" role="img" {FONT}>'
           f"<title>{escape(alt)}</title>{''.join(body)}</svg>")
    return Chart(svg, alt)


def legend_chart() -> Chart:
    """The legend of the small multiples, once above them."""
    lines, _ = _legend([("looking at the screen", BLUE, ""), ("on camera", GREEN, "4 2"),
                        ("class: looking at the screen", GREY, "3 2")], 4, 14)
    boxes, _ = _legend([(CELL_NAMES[k].capitalize(), CELL_COLOURS[k], "") for k in
                        ("present", "late", "absent", "not_recorded")], 4, 32, swatch="box")
    alt = ("Legend: lines show looking at the screen and on camera (0–100) per session; the strip below shows "
           "each session's attendance: present, late, absent, not recorded.")
    return Chart(_svg(40, [*lines, *boxes], alt), alt)


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{round(x * 100)}%"
