"""Inline SVG geometry: the run's cumulative cost line and small per-run trends.

Plain numbers in, coordinates and labels out; the template draws them. A line never holds more
than `MAX_POINTS` points, so a run of 10,000 records draws as fast and weighs as little as one
of 400 (the line is a step function of time: each kept point is the last of its slice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["MAX_POINTS", "Chart", "Marker", "Trend", "line_chart", "sparkline", "trend_chart"]

MAX_POINTS = 400
WIDTH = 960.0
HEIGHT = 300.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 100.0, 16.0, 28.0, 72.0


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical mark at `x` (a time offset) with a label, e.g. where a warn line was crossed."""

    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """A drawn line: its points, axis labels, an optional horizontal line and vertical marks."""

    points: str
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    y_labels: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str], ...]
    hline: tuple[float, str] | None
    markers: tuple[tuple[float, str], ...]
    last: tuple[float, float]


def _thin(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    """At most MAX_POINTS points: the last point of each equal slice of the x range."""
    if len(xs) <= MAX_POINTS:
        return list(zip(xs, ys, strict=True))
    span = (xs[-1] - xs[0]) or 1.0
    kept: dict[int, tuple[float, float]] = {}
    for x, y in zip(xs, ys, strict=True):
        kept[min(MAX_POINTS - 1, int((x - xs[0]) / span * MAX_POINTS))] = (x, y)
    return [kept[key] for key in sorted(kept)]


def line_chart(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    x_label: tuple[str, str],
    y_format: Callable[[float], str],
    hline: tuple[float, str] | None = None,
    markers: Sequence[Marker] = (),
) -> Chart:
    """A rising line of `ys` over `xs` (both ascending), from (xs[0], 0).

    `x_label` labels the two ends of the x axis; `y_format` turns a y value into a label; a
    horizontal line (`hline`, e.g. a budget's warn line) widens the y range to show it.
    """
    x0 = xs[0] if xs else 0.0
    x_span = ((xs[-1] - x0) if xs else 0.0) or 1.0
    y_top = max([*ys, hline[0] if hline else 0.0, 0.0]) or 1.0
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM

    def px(x: float) -> float:
        return round(_LEFT + (x - x0) / x_span * plot_w, 1)

    def py(y: float) -> float:
        return round(_TOP + plot_h - y / y_top * plot_h, 1)

    points = [(px(x0), py(0.0))] + [(px(x), py(y)) for x, y in _thin(xs, ys)]
    text = " ".join(f"{x:g},{y:g}" for x, y in points)
    bottom = _TOP + plot_h
    return Chart(
        points=text,
        width=WIDTH,
        height=HEIGHT,
        plot_left=_LEFT,
        plot_right=WIDTH - _RIGHT,
        plot_top=_TOP,
        plot_bottom=bottom,
        y_labels=((py(0.0), y_format(0.0)), (py(y_top), y_format(y_top))),
        x_labels=((px(x0), x_label[0]), (px(x0 + x_span), x_label[1])),
        hline=(py(hline[0]), hline[1]) if hline else None,
        markers=tuple((px(m.x), m.label) for m in markers),
        last=points[-1],
    )


def sparkline(values: Sequence[float | None], width: float = 160, height: float = 36) -> str:
    """Polyline points of a small trend; unknown values (None) are skipped."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    top = max(known) or 1.0
    step = width / max(len(values) - 1, 1)
    pad = 3.0
    return " ".join(
        f"{round(i * step, 1):g},{round(height - pad - v / top * (height - 2 * pad), 1):g}"
        for i, v in enumerate(values)
        if v is not None
    )


@dataclass(frozen=True, slots=True)
class Trend:
    """Cost per run, oldest to newest, with labelled axes: the y axis spans the runs' lowest
    to highest cost (not from $0, where a few percent between runs would be a flat line)."""

    points: str
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    y_labels: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str], ...]
    y_title: str
    x_title: str


_T_WIDTH, _T_HEIGHT = 480.0, 160.0
_T_LEFT, _T_RIGHT, _T_TOP, _T_BOTTOM = 76.0, 12.0, 12.0, 44.0


def _value_range(known: Sequence[float]) -> tuple[float, float]:
    """The y range of a trend: the lowest to the highest value, with a margin; a flat trend
    sits in the middle of a band around its value."""
    low, high = min(known), max(known)
    margin = (high - low) * 0.1 or (abs(high) * 0.1 or 1.0)
    return low - margin, high + margin


def trend_chart(
    values: Sequence[float | None],
    *,
    x_label: tuple[str, str],
    y_format: Callable[[float], str],
    y_title: str,
    x_title: str,
) -> Trend | None:
    """A trend of `values` (None: unknown, skipped), labelled at its lowest and highest known
    value and at both ends (`x_label`); None when no value is known."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    bottom_value, top_value = _value_range(known)
    plot_w = _T_WIDTH - _T_LEFT - _T_RIGHT
    plot_h = _T_HEIGHT - _T_TOP - _T_BOTTOM
    step = plot_w / max(len(values) - 1, 1)

    def py(y: float) -> float:
        return round(_T_TOP + plot_h - (y - bottom_value) / (top_value - bottom_value) * plot_h, 1)

    points = " ".join(
        f"{round(_T_LEFT + i * step, 1):g},{py(v):g}" for i, v in enumerate(values) if v is not None
    )
    low, high = min(known), max(known)
    y_labels = (
        ((py(high), y_format(high)),)
        if low == high
        else (
            (py(low), y_format(low)),
            (py(high), y_format(high)),
        )
    )
    right = _T_LEFT + step * max(len(values) - 1, 1)
    return Trend(
        points=points,
        width=_T_WIDTH,
        height=_T_HEIGHT,
        plot_left=_T_LEFT,
        plot_right=_T_WIDTH - _T_RIGHT,
        plot_top=_T_TOP,
        plot_bottom=_T_TOP + plot_h,
        y_labels=y_labels,
        x_labels=((_T_LEFT, x_label[0]), (round(right, 1), x_label[1])),
        y_title=y_title,
        x_title=x_title,
    )
