"""The satisfaction report's charts, drawn as inline SVG on the server: pure geometry, no Django.

Two charts:

- the NPS week by week (`nps_line`): a y axis from -100 to 100 with a zero
  line, a label per week on the x axis (thinned out when there are many), a
  line through the answered weeks broken where a week had no answer, and a
  point per answered week whose `<title>` is its tooltip;
- the distribution of the scores (`score_bars`): eleven bars, 0 to 10, their
  heights proportional to the counts and their colours those of the bands
  (detractor, passive, promoter).

The caller hands every text already translated and formatted (labels,
tooltips, the empty chart's "No answers"), so that this module only places
things; `svg_line_chart` and `svg_bar_chart` escape every text they write,
and their output can be put in a page as it is. Colours are classes
(`band-promoter`, `nps-line`...) with a fill or stroke attribute as a fallback,
for the page's stylesheet to adapt to dark mode; axes and texts use
`currentColor`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from satisfaction.nps import PASSIVE_MIN, PROMOTER_MIN

NPS_MIN = -100
NPS_MAX = 100
#: The y axis' graduations of the NPS chart.
NPS_TICKS = (-100, -50, 0, 50, 100)
#: At most this many week labels under the NPS chart; the others are left out.
MAX_X_LABELS = 13
#: The fallback colours, for a page without the report's stylesheet.
BAND_COLOURS = {"promoter": "#3d8b40", "passive": "#8a8a8a", "detractor": "#ba2121"}
LINE_COLOUR = "#417690"

Number = Callable[[int], str]


@dataclass(frozen=True)
class Frame:
    """The drawing's size and the margins around its plot (room for the axes' labels)."""

    width: int = 720
    height: int = 240
    left: int = 44
    right: int = 12
    top: int = 12
    bottom: int = 28

    @property
    def plot_left(self) -> float:
        return self.left

    @property
    def plot_right(self) -> float:
        return self.width - self.right

    @property
    def plot_top(self) -> float:
        return self.top

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom

    @property
    def plot_width(self) -> float:
        return self.plot_right - self.plot_left

    @property
    def plot_height(self) -> float:
        return self.plot_bottom - self.plot_top


def scale(value: float, domain: tuple[float, float], span: tuple[float, float]) -> float:
    """`value` of `domain` mapped linearly onto `span` (either may run backwards)."""
    low, high = domain
    start, end = span
    if high == low:
        return start
    return start + (value - low) * (end - start) / (high - low)


def band(score: int) -> str:
    if score >= PROMOTER_MIN:
        return "promoter"
    if score >= PASSIVE_MIN:
        return "passive"
    return "detractor"


@dataclass(frozen=True)
class Tick:
    """A graduation: its position along its axis and its label."""

    position: float
    label: str


# --- The NPS week by week ---------------------------------------------------------------


@dataclass(frozen=True)
class WeekPoint:
    """One week of the NPS chart, as the caller gives it."""

    label: str  # under the x axis, e.g. "3 Mar"
    value: float | None  # the week's NPS; None for a week without answers
    title: str = ""  # the point's tooltip


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    title: str


@dataclass(frozen=True)
class LineChart:
    frame: Frame
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    zero_y: float
    #: Runs of consecutive answered weeks, each drawn as one line: a week
    #: without answers breaks the line.
    segments: list[list[Point]] = field(default_factory=list)

    @property
    def points(self) -> list[Point]:
        return [point for segment in self.segments for point in segment]

    @property
    def empty(self) -> bool:
        return not self.segments


def nps_y(value: float, frame: Frame) -> float:
    """The height of an NPS on the chart: 100 at the top of the plot, -100 at its bottom."""
    clamped = min(max(value, NPS_MIN), NPS_MAX)
    return scale(clamped, (NPS_MIN, NPS_MAX), (frame.plot_bottom, frame.plot_top))


def column_x(index: int, count: int, frame: Frame) -> float:
    """The middle of the `index`-th of `count` equal columns of the plot."""
    step = frame.plot_width / count
    return frame.plot_left + step * (index + 0.5)


#: A chart drawn in a dashboard card (at least 420 px wide): drawn at about that
#: size, its 11-unit labels read at about 11 px, and fewer of them fit.
CARD_FRAME = Frame(width=440, height=220)
CARD_X_LABELS = 6


def label_every(count: int, most: int = MAX_X_LABELS) -> int:
    """Label one column in this many, so that at most `most` labels are written."""
    return max(1, math.ceil(count / most))


def nps_line(
    weeks: Sequence[WeekPoint],
    *,
    frame: Frame | None = None,
    number: Number = str,
    labels: int = MAX_X_LABELS,
) -> LineChart:
    frame = frame or Frame()
    y_ticks = [Tick(nps_y(value, frame), number(value)) for value in NPS_TICKS]
    every = label_every(len(weeks), labels)
    x_ticks = [
        Tick(column_x(index, len(weeks), frame), week.label)
        for index, week in enumerate(weeks)
        # The latest week is always labelled: it is the one people look for.
        if (len(weeks) - 1 - index) % every == 0
    ]
    segments: list[list[Point]] = []
    run: list[Point] = []
    for index, week in enumerate(weeks):
        if week.value is None:
            if run:
                segments.append(run)
            run = []
            continue
        x = column_x(index, len(weeks), frame)
        run.append(Point(x, nps_y(week.value, frame), week.value, week.title))
    if run:
        segments.append(run)
    return LineChart(
        frame=frame,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        zero_y=nps_y(0, frame),
        segments=segments,
    )


def count_line(
    weeks: Sequence[WeekPoint],
    *,
    frame: Frame | None = None,
    number: Number = str,
    labels: int = MAX_X_LABELS,
) -> LineChart:
    """A count week by week (subscribers...): the y axis from 0 to a round top above the highest."""
    frame = frame or Frame()
    top, graduations = count_axis(int(max((week.value or 0 for week in weeks), default=0)))

    def y(value: float) -> float:
        return scale(value, (0, top), (frame.plot_bottom, frame.plot_top))

    every = label_every(len(weeks), labels)
    points = [
        Point(column_x(index, len(weeks), frame), y(week.value), week.value, week.title)
        for index, week in enumerate(weeks)
        if week.value is not None
    ]
    return LineChart(
        frame=frame,
        y_ticks=[Tick(y(value), number(value)) for value in graduations],
        x_ticks=[
            Tick(column_x(index, len(weeks), frame), week.label)
            for index, week in enumerate(weeks)
            if (len(weeks) - 1 - index) % every == 0
        ],
        zero_y=y(0),
        segments=[points] if points else [],
    )


# --- The scores' distribution ---------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    score: int
    count: int
    band: str
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class BarChart:
    frame: Frame
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    bars: list[Bar]

    @property
    def empty(self) -> bool:
        return not any(bar.count for bar in self.bars)


def nice_step(rough: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... at least `rough`."""
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if step * multiple >= rough:
                return step * multiple
        step *= 10


def count_axis(highest: int, *, ticks: int = 4) -> tuple[int, list[int]]:
    """The top of a count axis holding `highest`, and its graduations from 0 (whole numbers)."""
    if highest <= 0:
        return 1, [0, 1]
    step = nice_step(highest / ticks)
    top = step * math.ceil(highest / step)
    return top, list(range(0, top + 1, step))


def score_bars(
    counts: Sequence[int],
    *,
    titles: Sequence[str] | None = None,
    frame: Frame | None = None,
    number: Number = str,
) -> BarChart:
    """One bar per score (`counts[score]`), the tallest reaching the top of the axis' range."""
    frame = frame or Frame()
    top, graduations = count_axis(max(counts, default=0))
    y_ticks = [
        Tick(scale(value, (0, top), (frame.plot_bottom, frame.plot_top)), number(value))
        for value in graduations
    ]
    column = frame.plot_width / max(len(counts), 1)
    width = column * 0.7
    bars = []
    x_ticks = []
    for score, count in enumerate(counts):
        middle = column_x(score, len(counts), frame)
        height = scale(count, (0, top), (0, frame.plot_height))
        bars.append(
            Bar(
                score=score,
                count=count,
                band=band(score),
                x=middle - width / 2,
                y=frame.plot_bottom - height,
                width=width,
                height=height,
                title=titles[score] if titles else f"{score}: {count}",
            )
        )
        x_ticks.append(Tick(middle, number(score)))
    return BarChart(frame=frame, y_ticks=y_ticks, x_ticks=x_ticks, bars=bars)


# --- SVG --------------------------------------------------------------------------------


def _n(value: float) -> str:
    """A coordinate, to the tenth of a unit ("12.5", "40")."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _open(frame: Frame, css_class: str, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(label)}</title>",
    ]


def _y_axis(frame: Frame, ticks: Sequence[Tick]) -> list[str]:
    parts = ['<g class="axis y-axis" fill="currentColor" font-size="11" text-anchor="end">']
    for tick in ticks:
        parts.append(
            f'<line x1="{_n(frame.plot_left)}" x2="{_n(frame.plot_right)}" '
            f'y1="{_n(tick.position)}" y2="{_n(tick.position)}" class="grid" '
            'stroke="currentColor" stroke-opacity="0.15"/>'
        )
        parts.append(
            f'<text x="{_n(frame.plot_left - 6)}" y="{_n(tick.position)}" '
            f'dominant-baseline="middle">{escape(tick.label)}</text>'
        )
    parts.append("</g>")
    return parts


def _x_axis(frame: Frame, ticks: Sequence[Tick]) -> list[str]:
    baseline = frame.plot_bottom + 18
    parts = [
        '<g class="axis x-axis" fill="currentColor" font-size="11" text-anchor="middle">',
        f'<line x1="{_n(frame.plot_left)}" x2="{_n(frame.plot_right)}" '
        f'y1="{_n(frame.plot_bottom)}" y2="{_n(frame.plot_bottom)}" '
        'stroke="currentColor" stroke-opacity="0.5"/>',
    ]
    parts.extend(
        f'<text x="{_n(tick.position)}" y="{_n(baseline)}">{escape(tick.label)}</text>'
        for tick in ticks
    )
    parts.append("</g>")
    return parts


def _empty_text(frame: Frame, text: str) -> str:
    x = frame.plot_left + frame.plot_width / 2
    y = frame.plot_top + frame.plot_height / 2
    return (
        f'<text class="chart-empty" x="{_n(x)}" y="{_n(y)}" text-anchor="middle" '
        f'dominant-baseline="middle" fill="currentColor" font-size="14">{escape(text)}</text>'
    )


def svg_line_chart(
    chart: LineChart, *, label: str, empty_text: str, css_class: str = "nps-chart nps-by-week"
) -> str:
    """A line chart as an `<svg>` element; `label` names it for screen readers."""
    frame = chart.frame
    parts = _open(frame, css_class, label)
    parts += _y_axis(frame, chart.y_ticks)
    parts.append(
        f'<line class="zero-line" x1="{_n(frame.plot_left)}" x2="{_n(frame.plot_right)}" '
        f'y1="{_n(chart.zero_y)}" y2="{_n(chart.zero_y)}" stroke="currentColor" '
        'stroke-opacity="0.6" stroke-dasharray="4 3"/>'
    )
    parts += _x_axis(frame, chart.x_ticks)
    for segment in chart.segments:
        if len(segment) > 1:
            points = " ".join(f"{_n(point.x)},{_n(point.y)}" for point in segment)
            parts.append(
                f'<polyline class="nps-line" points="{points}" fill="none" '
                f'stroke="{LINE_COLOUR}" stroke-width="2"/>'
            )
    for point in chart.points:
        parts.append(
            f'<circle class="nps-point" cx="{_n(point.x)}" cy="{_n(point.y)}" r="4" '
            f'fill="{LINE_COLOUR}"><title>{escape(point.title)}</title></circle>'
        )
    if chart.empty:
        parts.append(_empty_text(frame, empty_text))
    parts.append("</svg>")
    return "".join(parts)


def svg_bar_chart(chart: BarChart, *, label: str, empty_text: str) -> str:
    """The distribution as an `<svg>` element; `label` names it for screen readers."""
    frame = chart.frame
    parts = _open(frame, "nps-chart score-distribution", label)
    parts += _y_axis(frame, chart.y_ticks)
    parts += _x_axis(frame, chart.x_ticks)
    for bar in chart.bars:
        parts.append(
            f'<rect class="bar band-{bar.band}" data-score="{bar.score}" '
            f'data-count="{bar.count}" x="{_n(bar.x)}" y="{_n(bar.y)}" '
            f'width="{_n(bar.width)}" height="{_n(bar.height)}" '
            f'fill="{BAND_COLOURS[bar.band]}"><title>{escape(bar.title)}</title></rect>'
        )
    if chart.empty:
        parts.append(_empty_text(frame, empty_text))
    parts.append("</svg>")
    return "".join(parts)
