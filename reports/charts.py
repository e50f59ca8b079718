"""Hand-built SVG charts for the reports, each with a text alternative.

Hand-built rather than matplotlib: the charts are simple (lines, bands, a grid of cells),
hand-built SVG is crisp in both the HTML and the PDF, weighs a few kilobytes, renders in
microseconds (a class report has 30+ charts), and keeps the report's font. Colours follow
Okabe & Ito's colour-blind-safe palette, and lines also differ by dash pattern so a
grey-scale print still tells them apart. Every string placed in the SVG is escaped:
display names come from the meeting and are untrusted.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from analysis.aggregate import Level
from reports.format import clock_span, duration

#: Okabe & Ito (2008), "Color Universal Design".
BLUE, SKY, ORANGE, GREEN = "#0072B2", "#56B4E9", "#E69F00", "#009E73"
VERMILLION, PURPLE, YELLOW, BLACK = "#D55E00", "#CC79A7", "#F0E442", "#000000"
GREY, LIGHT_GREY = "#6E6E6E", "#D9D9D9"

LEVEL_COLOURS: dict[Level, str] = {
    "high": BLUE, "nominal": SKY, "low": ORANGE, "uncertain": LIGHT_GREY,
    "absent": PURPLE, "camera_off": GREY, "no_data": "#FFFFFF"}
LEVEL_NAMES: dict[Level, str] = {
    "high": "High", "nominal": "Nominal", "low": "Low", "uncertain": "Uncertain",
    "absent": "No face on camera", "camera_off": "Camera off", "no_data": "No data"}

WIDTH = 680  # px; the A4 text column at 96 dpi, scaled to the page by CSS
FONT = 'font-family="DejaVu Sans, sans-serif"'


@dataclass(frozen=True)
class Chart:
    """An SVG document (already escaped, safe to embed) and its text alternative."""

    svg: str
    alt: str

    @property
    def data_uri(self) -> str:
        """The SVG as a data: URI for an <img>: keeps hundreds of SVG nodes out of the HTML
        tree, which WeasyPrint would otherwise run through the CSS cascade one by one."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


@dataclass(frozen=True)
class Series:
    """One line: a value 0..1 (or None, a gap) per window."""

    label: str
    values: tuple[float | None, ...]
    colour: str
    dash: str = ""  # SVG stroke-dasharray; "" = solid
    width: float = 2.0


@dataclass(frozen=True)
class Band:
    """A shaded stretch of time (e.g. camera off), drawn behind the lines."""

    start: float
    end: float
    label: str
    colour: str = GREY


def _svg(height: float, body: Sequence[str], alt: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
            f'width="{WIDTH}" height="{height:.0f}" role="img" {FONT}>'
            f"<title>{escape(alt)}</title>{''.join(body)}</svg>")


def _tick_step(duration_s: float) -> float:
    minutes = duration_s / 60
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120):
        if minutes / step <= 10:
            return step * 60.0
    return 240 * 60.0


def _x_axis(x0: float, pw: float, y: float, duration_s: float) -> list[str]:
    out = [f'<line x1="{x0}" y1="{y}" x2="{x0 + pw}" y2="{y}" stroke="#444" stroke-width="1"/>']
    step = _tick_step(duration_s)
    t = 0.0
    while t <= duration_s + 1e-6:
        x = x0 + pw * t / duration_s
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#444"/>'
                   f'<text x="{x:.1f}" y="{y + 15}" font-size="10" text-anchor="middle" '
                   f'fill="#333">{round(t / 60)}</text>')
        t += step
    out.append(f'<text x="{x0 + pw / 2}" y="{y + 28}" font-size="10" text-anchor="middle" '
               f'fill="#333">minutes since the start of class</text>')
    return out


def _legend(items: Sequence[tuple[str, str, str]], x: float, y: float,
            swatch: str = "line") -> tuple[list[str], float]:
    """(label, colour, dash) items in a row; swatch "line", "box" or "none". Returns parts and end x."""
    out = []
    for label, colour, dash in items:
        if swatch == "line":
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{x}" y1="{y - 3}" x2="{x + 22}" y2="{y - 3}" stroke="{colour}" '
                       f'stroke-width="2.5"{dash_attr}/>')
            x += 27
        elif swatch == "box":
            out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}" '
                       f'stroke="#888" stroke-width="0.5"/>')
            x += 14
        out.append(f'<text x="{x}" y="{y}" font-size="10" fill="#222">{escape(label)}</text>')
        x += 6.2 * len(label) + 14
    return out, x


def _describe(series: Sequence[Series], starts: Sequence[float], size_s: float) -> str:
    parts = []
    for s in series:
        known = [(v, t) for v, t in zip(s.values, starts, strict=True) if v is not None]
        if not known:
            parts.append(f"{s.label}: no data.")
            continue
        mean = sum(v for v, _ in known) / len(known)
        lo, hi = min(known), max(known)
        parts.append(f"{s.label}: mean {round(mean * 100)}, lowest {round(lo[0] * 100)} at "
                     f"{clock_span(lo[1], lo[1] + size_s)}, highest {round(hi[0] * 100)} at "
                     f"{clock_span(hi[1], hi[1] + size_s)}.")
    return " ".join(parts)


def _runs(levels: Sequence[Level]) -> list[tuple[int, int, Level]]:
    """(first index, length, level) of runs of equal levels: one rectangle per run, not per
    cell, keeps the SVG small and fast to draw in PDFs."""
    runs: list[tuple[int, int, Level]] = []
    for i, level in enumerate(levels):
        if runs and runs[-1][2] == level:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1, level)
        else:
            runs.append((i, 1, level))
    return runs


def line_chart(title: str, starts: Sequence[float], size_s: float, duration_s: float,
               series: Sequence[Series], bands: Sequence[Band] = (),
               strip: Sequence[Level] | None = None) -> Chart:
    """Lines on a 0..100 scale over lecture minutes, optional shaded bands and a level strip.

    Values are plotted at window midpoints; a None breaks the line, so a gap in the data
    is never drawn as a slope.
    """
    duration_s = max(duration_s, size_s * len(starts), 60.0)
    x0, pw, top, ph = 34.0, WIDTH - 44.0, 26.0, 150.0
    strip_h = 10.0 if strip is not None else 0.0
    axis_y = top + ph + (strip_h + 6 if strip is not None else 0)
    height = axis_y + (52 if strip is not None else 34)

    def px(t: float) -> float:
        return x0 + pw * min(t, duration_s) / duration_s

    def py(v: float) -> float:
        return top + ph * (1 - max(0.0, min(1.0, v)))

    body = [f'<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="#FFFFFF" stroke="none"/>']
    for b in bands:
        body.append(f'<rect x="{px(b.start):.1f}" y="{top}" width="{max(px(b.end) - px(b.start), 1):.1f}" '
                    f'height="{ph}" fill="{b.colour}" fill-opacity="0.18"/>')
    for tick in (0, 25, 50, 75, 100):
        y = py(tick / 100)
        body.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#E3E3E3"/>'
                    f'<text x="{x0 - 5}" y="{y + 3.5:.1f}" font-size="10" text-anchor="end" '
                    f'fill="#333">{tick}</text>')
    for s in series:
        segment: list[str] = []
        points: list[tuple[float, float | None]] = [*zip(starts, s.values, strict=True), (0.0, None)]
        for start, v in points:
            if v is not None:
                segment.append(f"{px(start + size_s / 2):.1f},{py(v):.1f}")
                continue
            dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
            if len(segment) > 1:
                body.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{s.colour}" '
                            f'stroke-width="{s.width}" stroke-linejoin="round"{dash}/>')
            elif segment:
                cx, cy = segment[0].split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2.2" fill="{s.colour}"/>')
            segment = []
    if strip is not None:
        sy = top + ph + 4
        for first, count, level in _runs(strip):
            x_a, x_b = px(starts[first]), px(starts[first] + count * size_s)
            body.append(f'<rect x="{x_a:.1f}" y="{sy}" width="{x_b - x_a:.2f}" height="{strip_h}" '
                        f'fill="{LEVEL_COLOURS[level]}"/>')
    body += _x_axis(x0, pw, axis_y, duration_s)
    if strip is not None:
        present = [lv for lv in LEVEL_COLOURS if lv in set(strip)]
        body += _legend([("Strip:", "none", "")], x0 - 14, height - 6, swatch="none")[0]
        body += _legend([(LEVEL_NAMES[lv], LEVEL_COLOURS[lv], "") for lv in present], x0 + 26, height - 6,
                        swatch="box")[0]
    parts, end_x = _legend([(s.label, s.colour, s.dash) for s in series], x0, 14)
    body += parts
    band_labels = sorted({(b.label, b.colour) for b in bands})
    if band_labels:
        body += _legend([(label, colour + "55", "") for label, colour in band_labels], end_x, 14,
                        swatch="box")[0]
    alt = f"{title}. {_describe(series, starts, size_s)}"
    if bands:
        alt += " Shaded: " + "; ".join(sorted({b.label for b in bands})) + "."
    return Chart(_svg(height, body, alt), alt)


def heatmap(title: str, rows: Sequence[tuple[str, Sequence[Level]]], size_s: float,
            duration_s: float) -> Chart:
    """Students (rows) × windows (columns), each cell coloured by its level."""
    n_cols = max((len(levels) for _, levels in rows), default=0)
    duration_s = max(duration_s, size_s * n_cols, 60.0)
    label_w, top = 150.0, 8.0
    pw = WIDTH - label_w - 10
    cell_h = 12.0 if len(rows) <= 40 else 8.0 if len(rows) <= 80 else 5.0  # stays within one page
    body = []
    counts: dict[Level, int] = {}
    for r, (name, levels) in enumerate(rows):
        y = top + r * cell_h
        shown = name if len(name) <= 24 else name[:23] + "…"
        body.append(f'<text x="{label_w - 6}" y="{y + cell_h - 3:.1f}" font-size="{min(10.0, cell_h - 1)}" '
                    f'text-anchor="end" fill="#222">{escape(shown)}</text>')
        for level in levels:
            counts[level] = counts.get(level, 0) + 1
        for first, count, level in _runs(levels):
            x = label_w + pw * first * size_s / duration_s
            w = pw * count * size_s / duration_s
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.2f}" height="{cell_h - 1:.1f}" '
                        f'fill="{LEVEL_COLOURS[level]}"/>')
    grid_bottom = top + len(rows) * cell_h
    body.append(f'<rect x="{label_w}" y="{top}" width="{pw}" height="{len(rows) * cell_h}" fill="none" '
                f'stroke="#999" stroke-width="0.5"/>')
    body += _x_axis(label_w, pw, grid_bottom + 2, duration_s)
    legend_y = grid_bottom + 50
    body += _legend([(LEVEL_NAMES[lv], LEVEL_COLOURS[lv], "") for lv in LEVEL_COLOURS], 10, legend_y,
                    swatch="box")[0]
    total = sum(counts.values())
    summary = ", ".join(f"{LEVEL_NAMES[lv].lower()} {round(100 * counts[lv] / total)}%"
                        for lv in LEVEL_COLOURS if counts.get(lv)) if total else "no data"
    alt = (f"{title}: {len(rows)} students over {n_cols} windows of {duration(size_s)}. "
           f"Share of student-windows by level: {summary}.")
    return Chart(_svg(legend_y + 8, body, alt), alt)
