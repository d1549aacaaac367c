"""The report's charts as geometry and SVG, without Django: scales, gaps, bars, escaping."""

import xml.etree.ElementTree as ET

import pytest

from satisfaction.charts import (
    Frame,
    WeekPoint,
    count_axis,
    nice_step,
    nps_line,
    nps_y,
    scale,
    score_bars,
    svg_bar_chart,
    svg_line_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
FRAME = Frame(width=600, height=200, left=40, right=10, top=10, bottom=30)  # plot 10..170


def parse(svg: str) -> ET.Element:
    """The chart as XML: it must be well-formed to be drawn inline."""
    return ET.fromstring(svg)  # noqa: S314 (our own output)


def weeks(*values):
    return [
        WeekPoint(label=f"W{index}", value=value, title=f"Week {index}: {value}")
        for index, value in enumerate(values)
    ]


# --- Scales ------------------------------------------------------------------------------


def test_the_nps_scale_runs_from_minus_100_at_the_bottom_to_100_at_the_top():
    assert nps_y(100, FRAME) == FRAME.plot_top == 10
    assert nps_y(-100, FRAME) == FRAME.plot_bottom == 170
    assert nps_y(0, FRAME) == 90
    assert nps_y(50, FRAME) == 50
    # Out of range values stay on the chart.
    assert nps_y(140, FRAME) == 10
    assert nps_y(-140, FRAME) == 170


def test_scale_maps_linearly_either_way():
    assert scale(5, (0, 10), (0, 100)) == 50
    assert scale(5, (0, 10), (100, 0)) == 50
    assert scale(2, (0, 10), (100, 0)) == 80
    assert scale(3, (3, 3), (7, 9)) == 7  # a flat domain does not divide by zero


@pytest.mark.parametrize(
    ("highest", "top", "ticks"),
    [
        (0, 1, [0, 1]),
        (1, 1, [0, 1]),
        (3, 3, [0, 1, 2, 3]),
        (4, 4, [0, 1, 2, 3, 4]),
        (10, 10, [0, 5, 10]),
        (41, 60, [0, 20, 40, 60]),
    ],
)
def test_a_count_axis_has_whole_round_graduations_reaching_the_highest_count(highest, top, ticks):
    assert count_axis(highest) == (top, ticks)


def test_nice_steps_are_1_2_5_times_a_power_of_ten():
    assert [nice_step(x) for x in (0.3, 1, 1.5, 3, 7, 11, 26, 140)] == [1, 1, 2, 5, 10, 20, 50, 200]


# --- The NPS by week ---------------------------------------------------------------------------


def test_weeks_without_answers_break_the_line_and_get_no_point():
    chart = nps_line(weeks(10, None, 20, 30, None, -40), frame=FRAME)

    assert [[point.value for point in run] for run in chart.segments] == [[10], [20, 30], [-40]]
    # Equal columns, one per week, the points in the middle of theirs.
    xs = [point.x for point in chart.points]
    column = FRAME.plot_width / 6
    assert xs == pytest.approx([FRAME.left + column * (i + 0.5) for i in (0, 2, 3, 5)])
    ys = {point.value: point.y for point in chart.points}
    assert ys[30] < ys[20] < ys[10] < chart.zero_y < ys[-40]
    assert chart.zero_y == 90
    assert [tick.label for tick in chart.x_ticks] == ["W0", "W1", "W2", "W3", "W4", "W5"]

    svg = parse(svg_line_chart(chart, label="NPS by week", empty_text="No answers"))
    circles = svg.findall(f".//{SVG}circle")
    assert [circle.find(f"{SVG}title").text for circle in circles] == [
        "Week 0: 10",
        "Week 2: 20",
        "Week 3: 30",
        "Week 5: -40",
    ]
    # Only the run of two consecutive weeks is a line; a lone week is a point.
    assert len(svg.findall(f".//{SVG}polyline")) == 1
    assert "No answers" not in ET.tostring(svg, encoding="unicode")


def test_the_y_axis_is_graduated_from_minus_100_to_100_with_a_zero_line():
    chart = nps_line(weeks(5), frame=FRAME, number=lambda value: f"<{value}>")

    assert [(tick.label, tick.position) for tick in chart.y_ticks] == [
        ("<-100>", 170),
        ("<-50>", 130),
        ("<0>", 90),
        ("<50>", 50),
        ("<100>", 10),
    ]
    svg = parse(svg_line_chart(chart, label="NPS", empty_text="No answers"))
    zero = svg.find(f".//{SVG}line[@class='zero-line']")
    assert (zero.get("y1"), zero.get("y2")) == ("90", "90")
    labels = [text.text for text in svg.findall(f".//{SVG}g[@class='axis y-axis']/{SVG}text")]
    assert labels == ["<-100>", "<-50>", "<0>", "<50>", "<100>"]  # escaped, then read back


def test_all_empty_weeks_draw_an_empty_chart_saying_no_answers():
    chart = nps_line(weeks(None, None, None), frame=FRAME)

    assert chart.empty
    assert chart.segments == []
    svg = parse(svg_line_chart(chart, label="NPS by week", empty_text="No answers"))
    assert svg.findall(f".//{SVG}circle") == []
    assert svg.findall(f".//{SVG}polyline") == []
    assert svg.find(f".//{SVG}text[@class='chart-empty']").text == "No answers"
    assert svg.find(f".//{SVG}line[@class='zero-line']") is not None
    assert len(svg.findall(f".//{SVG}g[@class='axis x-axis']/{SVG}text")) == 3


def test_no_week_at_all_is_an_empty_chart_too():
    chart = nps_line([], frame=FRAME)

    svg = parse(svg_line_chart(chart, label="NPS", empty_text="Aucune réponse"))
    assert svg.find(f".//{SVG}text[@class='chart-empty']").text == "Aucune réponse"


def test_a_year_of_weeks_is_labelled_sparingly_the_latest_week_always():
    chart = nps_line(weeks(*([10] * 52)), frame=FRAME)

    labels = [tick.label for tick in chart.x_ticks]
    assert len(labels) <= 13
    assert labels[-1] == "W51"
    assert len(chart.points) == 52
    assert len(chart.segments) == 1


def test_texts_are_escaped():
    chart = nps_line([WeekPoint(label="<b>", value=1, title='"quoted" & <script>')], frame=FRAME)

    svg = svg_line_chart(chart, label='a "label"', empty_text="<none>")
    assert "<script>" not in svg
    assert "<b>" not in svg
    tree = parse(svg)
    assert tree.get("aria-label") == 'a "label"'
    assert tree.find(f".//{SVG}circle/{SVG}title").text == '"quoted" & <script>'


# --- The distribution -------------------------------------------------------------------------


def test_one_bar_per_score_its_height_proportional_to_its_count_coloured_by_band():
    counts = [0, 0, 0, 1, 0, 0, 1, 0, 1, 2, 1]
    chart = score_bars(counts, frame=FRAME)

    assert [bar.score for bar in chart.bars] == list(range(11))
    assert [bar.band for bar in chart.bars] == ["detractor"] * 7 + ["passive"] * 2 + [
        "promoter"
    ] * 2
    heights = {bar.score: bar.height for bar in chart.bars}
    # The axis tops at 2 (the highest count): a 2 fills the plot, a 1 half of it.
    assert heights[9] == FRAME.plot_height == 160
    assert heights[3] == heights[6] == heights[8] == heights[10] == 80
    assert heights[0] == heights[7] == 0
    for bar in chart.bars:
        assert bar.y + bar.height == FRAME.plot_bottom  # standing on the x axis
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs)
    assert not chart.empty


def test_the_bars_as_svg_carry_their_score_count_band_and_tooltip():
    counts = [0, 0, 0, 1, 0, 0, 1, 0, 1, 2, 1]
    titles = [f"Score {score}: {count}" for score, count in enumerate(counts)]
    chart = score_bars(counts, titles=titles, frame=FRAME)

    svg = parse(svg_bar_chart(chart, label="Scores", empty_text="No answers"))
    rects = svg.findall(f".//{SVG}rect")
    assert [int(rect.get("data-score")) for rect in rects] == list(range(11))
    assert [int(rect.get("data-count")) for rect in rects] == counts
    assert rects[9].get("class") == "bar band-promoter"
    assert rects[7].get("class") == "bar band-passive"
    assert rects[6].get("class") == "bar band-detractor"
    assert rects[9].find(f"{SVG}title").text == "Score 9: 2"
    assert float(rects[9].get("height")) > float(rects[10].get("height")) > 0
    assert svg.find(f".//{SVG}text[@class='chart-empty']") is None
    x_labels = [text.text for text in svg.findall(f".//{SVG}g[@class='axis x-axis']/{SVG}text")]
    assert x_labels == [str(score) for score in range(11)]


def test_no_answers_draws_flat_bars_and_says_so():
    chart = score_bars([0] * 11, frame=FRAME)

    assert chart.empty
    assert {bar.height for bar in chart.bars} == {0}
    svg = parse(svg_bar_chart(chart, label="Scores", empty_text="No answers"))
    assert len(svg.findall(f".//{SVG}rect")) == 11
    assert svg.find(f".//{SVG}text[@class='chart-empty']").text == "No answers"
