"""Inline SVG chart builders for the KPI report.

Every builder takes plain Python values (labels already formatted for humans, numbers,
and a tick formatter) and returns one ``<svg>`` element as a string. Nothing here reads
the warehouse or loads anything from outside the page: no fonts, no scripts, no URLs.
All text that reaches the SVG goes through :func:`escape`.

Marks carry CSS classes that the page styles and the tests count:
``bar`` (bar charts), ``hist-bar`` (histograms), ``cell`` (heatmap), ``funnel-step``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Formatter = Callable[[float], str]

BAR_COLOUR = "#4c78a8"
NEGATIVE_COLOUR = "#c0504d"
LINE_COLOUR = "#e45756"
MUTED = "#6b7280"
GRID = "#e5e7eb"
# Sequential blue scale for the heatmap: light (0) to dark (1).
_HEAT_LOW = (239, 246, 255)
_HEAT_HIGH = (8, 48, 107)


def escape(text: object) -> str:
    """HTML-escape any text that comes from the data.

    Besides ``html.escape`` (``& < > " '``), the ``:`` of ``://`` is written as a
    character reference so that user text such as ``=HYPERLINK("http://…")`` shows
    unchanged but the page source never contains a URL scheme that a browser or a
    link checker could follow.
    """
    return html.escape(str(text), quote=True).replace("://", "&#58;//")


def _n(x: float) -> str:
    """A coordinate with one decimal, no trailing noise."""
    return f"{x:.1f}".rstrip("0").rstrip(".") if math.isfinite(x) else "0"


def nice_step(span: float, target_ticks: int = 5) -> float:
    """A 1-2-2.5-5 × 10^k step that splits ``span`` into about ``target_ticks`` parts."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= mult * magnitude:
            return mult * magnitude
    return 10 * magnitude


def nice_ticks(
    lo: float, hi: float, target_ticks: int = 5, *, integer: bool = False
) -> list[float]:
    """Evenly spaced round tick values covering [lo, hi] (always including 0 if inside);
    whole numbers only with ``integer`` (for counts)."""
    if hi <= lo:
        hi = lo + 1.0
    step = nice_step(hi - lo, target_ticks)
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    count = round((stop - start) / step)
    return [start + i * step for i in range(count + 1)]


def _svg_open(width: float, height: float, label: str) -> str:
    return (
        f'<svg class="chart" width="{_n(width)}" '
        f'height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>'
    )


def _y_axis(
    ticks: Sequence[float],
    y_of: Callable[[float], float],
    left: float,
    right: float,
    fmt: Formatter,
) -> list[str]:
    parts = []
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{_n(left)}" x2="{_n(right)}" y1="{_n(y)}" y2="{_n(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{_n(left - 6)}" y="{_n(y + 4)}" text-anchor="end" class="tick">'
            f"{escape(fmt(tick))}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], centres: Sequence[float], baseline: float) -> list[str]:
    """Category labels under the plot; thinned and rotated when there are many."""
    n = len(labels)
    every = max(1, math.ceil(n / 24))
    rotate = n > 8
    parts = []
    for i, (label, x) in enumerate(zip(labels, centres, strict=True)):
        if i % every:
            continue
        y = baseline + 14
        if rotate:
            parts.append(
                f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="end" class="tick" '
                f'transform="rotate(-45 {_n(x)} {_n(y)})">{escape(label)}</text>'
            )
        else:
            parts.append(
                f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="middle" class="tick">'
                f"{escape(label)}</text>"
            )
    return parts


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    fmt: Formatter,
    title: str,
    series_label: str,
    line: Sequence[float | None] | None = None,
    line_label: str = "",
    height: float = 300,
) -> str:
    """Vertical bars, one per label (``class="bar"``), with an optional line on top.

    A missing value gets an empty (zero-height) bar so that the bar count always equals
    the label count. Negative values are drawn below the zero line in a warmer colour.
    """
    n = len(labels)
    band = max(16.0, min(56.0, 900.0 / max(n, 1)))
    left, right, top = 78.0, 16.0, 30.0
    bottom = 64.0 if n > 8 else 34.0
    width = left + band * n + right
    plot_h = height - top - bottom
    numbers = [v for v in values if v is not None]
    numbers += [v for v in (line or []) if v is not None]
    ticks = nice_ticks(min([0.0, *numbers]), max([0.0, *numbers]))
    lo, hi = ticks[0], ticks[-1]

    def y_of(v: float) -> float:
        return top + plot_h * (hi - v) / (hi - lo)

    parts = [_svg_open(width, height, title)]
    parts += _y_axis(ticks, y_of, left, width - right, fmt)
    zero = y_of(0.0)
    centres = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + band * i + band * 0.15
        centres.append(left + band * (i + 0.5))
        if value is None:
            y, h, colour, shown = zero, 0.0, BAR_COLOUR, "no data"
        else:
            y, h = min(y_of(value), zero), abs(y_of(value) - zero)
            colour = BAR_COLOUR if value >= 0 else NEGATIVE_COLOUR
            shown = fmt(value)
        parts.append(
            f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(band * 0.7)}" '
            f'height="{_n(h)}" fill="{colour}"><title>{escape(label)}: {escape(shown)}'
            "</title></rect>"
        )
    parts.append(
        f'<line x1="{_n(left)}" x2="{_n(width - right)}" y1="{_n(zero)}" y2="{_n(zero)}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    if line is not None:
        points = [(centres[i], y_of(v), labels[i], v) for i, v in enumerate(line) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{_n(x)},{_n(y)}" for x, y, _, _ in points)
            parts.append(
                f'<polyline class="target-line" points="{path}" fill="none" '
                f'stroke="{LINE_COLOUR}" stroke-width="2"/>'
            )
        for x, y, label, v in points:
            parts.append(
                f'<circle class="target-point" cx="{_n(x)}" cy="{_n(y)}" r="3.5" '
                f'fill="{LINE_COLOUR}"><title>{escape(label)}: {escape(line_label)} '
                f"{escape(fmt(v))}</title></circle>"
            )
    parts += _x_labels(labels, centres, top + plot_h)
    parts.append(
        _legend(
            left,
            14,
            [(series_label, BAR_COLOUR, "box")]
            + ([(line_label, LINE_COLOUR, "line")] if line is not None else []),
        )
    )
    parts.append("</svg>")
    return "".join(parts)


def _legend(x: float, y: float, items: Sequence[tuple[str, str, str]]) -> str:
    parts = []
    for label, colour, kind in items:
        if kind == "box":
            parts.append(
                f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="12" height="10" fill="{colour}"/>'
            )
        else:
            parts.append(
                f'<line x1="{_n(x)}" x2="{_n(x + 12)}" y1="{_n(y - 4)}" '
                f'y2="{_n(y - 4)}" stroke="{colour}" stroke-width="2"/>'
            )
        parts.append(f'<text x="{_n(x + 17)}" y="{_n(y)}" class="legend">{escape(label)}</text>')
        x += 30 + 7 * len(label)
    return "".join(parts)


def hbar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    fmt: Formatter,
    title: str,
    reference: tuple[float, str] | None = None,
) -> str:
    """Horizontal bars (``class="bar"``), one per label, with an optional reference line."""
    row, left, right, top = 26.0, 170.0, 90.0, 12.0
    width = 760.0
    height = top + row * len(labels) + 30
    numbers = list(values) + ([reference[0]] if reference else [])
    ticks = nice_ticks(min([0.0, *numbers]), max([0.0, *numbers]))
    lo, hi = ticks[0], ticks[-1]
    plot_w = width - left - right

    def x_of(v: float) -> float:
        return left + plot_w * (v - lo) / (hi - lo)

    parts = [_svg_open(width, height, title)]
    base = top + row * len(labels)
    for tick in ticks:
        x = x_of(tick)
        parts.append(
            f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" y2="{_n(base)}" stroke="{GRID}"/>'
            f'<text x="{_n(x)}" y="{_n(base + 16)}" text-anchor="middle" class="tick">'
            f"{escape(fmt(tick))}</text>"
        )
    zero = x_of(0.0)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + row * i
        x0, x1 = sorted((zero, x_of(value)))
        colour = BAR_COLOUR if value >= 0 else NEGATIVE_COLOUR
        parts.append(
            f'<text x="{_n(left - 8)}" y="{_n(y + row * 0.65)}" text-anchor="end" '
            f'class="label">{escape(label)}</text>'
            f'<rect class="bar" x="{_n(x0)}" y="{_n(y + 4)}" width="{_n(x1 - x0)}" '
            f'height="{_n(row - 8)}" fill="{colour}"><title>{escape(label)}: '
            f"{escape(fmt(value))}</title></rect>"
            f'<text x="{_n(x1 + 5)}" y="{_n(y + row * 0.65)}" class="value">'
            f"{escape(fmt(value))}</text>"
        )
    if reference is not None:
        x = x_of(reference[0])
        parts.append(
            f'<line class="reference" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top - 4)}" '
            f'y2="{_n(base)}" stroke="{LINE_COLOUR}" stroke-dasharray="4 3"/>'
            f'<text x="{_n(x + 4)}" y="{_n(top + 6)}" class="tick">{escape(reference[1])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float],
    *,
    fmt: Formatter,
    title: str,
    x_label: str,
    bins: int = 20,
    integer: bool = False,
    clip_quantile: float | None = None,
) -> str:
    """A histogram (``class="hist-bar"`` per bin) with round bin edges.

    With ``clip_quantile`` (e.g. 0.99) the bins span the values up to that quantile and
    the last bin also holds everything above it (labelled "≥ edge"), so that a few
    huge values do not squash the rest into one bar.
    """
    data = sorted(v for v in values if v is not None and math.isfinite(v))
    lo, hi = data[0], data[-1]
    if clip_quantile is not None and len(data) > 20:
        hi = data[min(len(data) - 1, int(clip_quantile * (len(data) - 1)))]
    step = nice_step(hi - lo, bins) if hi > lo else 1.0
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(lo / step) * step
    count = max(1, math.floor((hi - start) / step) + 1)
    counts = [0] * count
    for v in data:
        counts[min(count - 1, max(0, int((v - start) // step)))] += 1
    clipped = data[-1] >= start + step * count
    edges = [start + step * i for i in range(count + 1)]

    left, right, top, bottom, height = 56.0, 16.0, 16.0, 46.0, 260.0
    band = max(10.0, min(40.0, 720.0 / count))
    width = left + band * count + right
    plot_h = height - top - bottom
    ticks = nice_ticks(0, max(counts), integer=True)
    y_max = ticks[-1]

    def y_of(v: float) -> float:
        return top + plot_h * (y_max - v) / y_max

    parts = [_svg_open(width, height, title)]
    parts += _y_axis(ticks, y_of, left, width - right, lambda t: f"{t:,.0f}")
    for i, c in enumerate(counts):
        lo_edge, hi_edge = edges[i], edges[i + 1]
        last_open = clipped and i == count - 1
        span = f"≥ {fmt(lo_edge)}" if last_open else f"{fmt(lo_edge)} – {fmt(hi_edge)}"
        x = left + band * i
        parts.append(
            f'<rect class="hist-bar" x="{_n(x + 1)}" y="{_n(y_of(c))}" '
            f'width="{_n(band - 2)}" height="{_n(y_of(0) - y_of(c))}" fill="{BAR_COLOUR}">'
            f"<title>{escape(span)}: {c:,}</title></rect>"
        )
    base = top + plot_h
    label_every = max(1, math.ceil(count / 8))
    for i in range(0, count + 1, label_every):
        x = left + band * i
        text = fmt(edges[i]) + ("+" if clipped and i == count else "")
        parts.append(
            f'<text x="{_n(x)}" y="{_n(base + 14)}" text-anchor="middle" '
            f'class="tick">{escape(text)}</text>'
        )
    parts.append(
        f'<text x="{_n(left + band * count / 2)}" y="{_n(height - 6)}" '
        f'text-anchor="middle" class="axis-label">{escape(x_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class HeatCell:
    """One heatmap cell: its row and column index, colour value in [0, 1], text shown
    in the cell and the tooltip."""

    row: int
    col: int
    value: float | None
    text: str
    tooltip: str


def heat_colour(value: float | None) -> str:
    """Linear blend of the light and dark blue for a value in [0, 1]; grey if missing."""
    if value is None or not math.isfinite(value):
        return "#f3f4f6"
    t = min(1.0, max(0.0, value))
    rgb = (round(lo + (hi - lo) * t) for lo, hi in zip(_HEAT_LOW, _HEAT_HIGH, strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cells: Sequence[HeatCell],
    *,
    title: str,
    x_label: str,
    y_label: str,
) -> str:
    """A grid of ``class="cell"`` rectangles, one per given cell (not per grid slot)."""
    cw, ch = 38.0, 20.0
    left, top, right, bottom = 84.0, 34.0, 16.0, 40.0
    width = max(left + cw * len(col_labels) + right, left + 14 * 11 + 44)
    height = top + ch * len(row_labels) + bottom
    parts = [_svg_open(width, height, title)]
    parts.append(f'<text x="{_n(left)}" y="12" class="axis-label">{escape(x_label)}</text>')
    for j, label in enumerate(col_labels):
        parts.append(
            f'<text x="{_n(left + cw * (j + 0.5))}" y="{_n(top - 6)}" '
            f'text-anchor="middle" class="tick">{escape(label)}</text>'
        )
    for i, label in enumerate(row_labels):
        parts.append(
            f'<text x="{_n(left - 6)}" y="{_n(top + ch * i + 14)}" text-anchor="end" '
            f'class="tick">{escape(label)}</text>'
        )
    for cell in cells:
        x, y = left + cw * cell.col, top + ch * cell.row
        dark = cell.value is not None and cell.value > 0.55
        parts.append(
            f'<rect class="cell" x="{_n(x)}" y="{_n(y)}" width="{_n(cw - 1)}" '
            f'height="{_n(ch - 1)}" fill="{heat_colour(cell.value)}">'
            f"<title>{escape(cell.tooltip)}</title></rect>"
            f'<text x="{_n(x + cw / 2)}" y="{_n(y + 14)}" text-anchor="middle" '
            f'class="cell-text" fill="{"#ffffff" if dark else "#111827"}">'
            f"{escape(cell.text)}</text>"
        )
    # Colour legend: 0% .. 100%.
    ly = height - 18
    for k in range(11):
        parts.append(
            f'<rect x="{_n(left + 14 * k)}" y="{_n(ly)}" width="14" height="10" '
            f'fill="{heat_colour(k / 10)}"/>'
        )
    parts.append(
        f'<text x="{_n(left - 6)}" y="{_n(ly + 9)}" text-anchor="end" '
        f'class="tick">{escape(y_label)} 0%</text>'
    )
    parts.append(f'<text x="{_n(left + 14 * 11 + 4)}" y="{_n(ly + 9)}" class="tick">100%</text>')
    parts.append("</svg>")
    return "".join(parts)


def funnel_chart(
    stages: Sequence[str],
    counts: Sequence[float],
    conversions: Sequence[float | None],
    *,
    fmt_count: Formatter,
    fmt_rate: Formatter,
    title: str,
) -> str:
    """A centred funnel: one ``class="funnel-step"`` bar per stage, width ∝ count, with
    the stage-to-next-stage conversion written to the right."""
    row, width, label_w, rate_w = 34.0, 760.0, 150.0, 150.0
    plot_w = width - label_w - rate_w
    height = row * len(stages) + 10
    biggest = max([c for c in counts if c > 0], default=1.0)
    parts = [_svg_open(width, height, title)]
    for i, (stage, count, conv) in enumerate(zip(stages, counts, conversions, strict=True)):
        w = max(2.0, plot_w * max(count, 0.0) / biggest)
        x = label_w + (plot_w - w) / 2
        y = 5 + row * i
        parts.append(
            f'<text x="{_n(label_w - 8)}" y="{_n(y + 19)}" text-anchor="end" class="label">'
            f"{escape(stage)}</text>"
            f'<rect class="funnel-step" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" '
            f'height="{_n(row - 6)}" rx="3" fill="{BAR_COLOUR}"><title>{escape(stage)}: '
            f"{escape(fmt_count(count))}</title></rect>"
            f'<text x="{_n(label_w + plot_w / 2)}" y="{_n(y + 19)}" text-anchor="middle" '
            f'class="funnel-text">{escape(fmt_count(count))}</text>'
        )
        if conv is not None:
            parts.append(
                f'<text x="{_n(label_w + plot_w + 10)}" y="{_n(y + 19)}" class="value">'
                f"→ {escape(fmt_rate(conv))} to next</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


#: Colours of the receivables ageing buckets, from not yet due to long overdue.
AGEING_COLOURS = ("#54a24b", "#eeca3b", "#f58518", "#e45756", "#9d1c20")


def stacked_hbar_chart(
    labels: Sequence[str],
    segments: Sequence[tuple[str, str, Sequence[float]]],
    *,
    fmt: Formatter,
    title: str,
) -> str:
    """Horizontal stacked bars, one per label; each segment (name, colour, values) is a
    ``class="stack"`` rect per label with a positive value. The total is written at the
    end of each bar; a legend names the segments."""
    row, left, right, top = 26.0, 190.0, 96.0, 30.0
    width = 760.0
    height = top + row * len(labels) + 30
    totals = [sum(max(0.0, s[2][i]) for s in segments) for i in range(len(labels))]
    ticks = nice_ticks(0.0, max([0.0, *totals]))
    hi = ticks[-1] or 1.0
    plot_w = width - left - right

    def x_of(v: float) -> float:
        return left + plot_w * v / hi

    parts = [_svg_open(width, height, title)]
    base = top + row * len(labels)
    for tick in ticks:
        x = x_of(tick)
        parts.append(
            f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" y2="{_n(base)}" stroke="{GRID}"/>'
            f'<text x="{_n(x)}" y="{_n(base + 16)}" text-anchor="middle" class="tick">'
            f"{escape(fmt(tick))}</text>"
        )
    for i, label in enumerate(labels):
        y = top + row * i
        parts.append(
            f'<text x="{_n(left - 8)}" y="{_n(y + row * 0.65)}" text-anchor="end" '
            f'class="label">{escape(label)}</text>'
        )
        start = 0.0
        for name, colour, values in segments:
            value = values[i]
            if value <= 0:
                continue
            parts.append(
                f'<rect class="stack" x="{_n(x_of(start))}" y="{_n(y + 4)}" '
                f'width="{_n(x_of(start + value) - x_of(start))}" height="{_n(row - 8)}" '
                f'fill="{colour}"><title>{escape(label)}, {escape(name)}: '
                f"{escape(fmt(value))}</title></rect>"
            )
            start += value
        parts.append(
            f'<text x="{_n(x_of(start) + 5)}" y="{_n(y + row * 0.65)}" class="value">'
            f"{escape(fmt(totals[i]))}</text>"
        )
    parts.append(_legend(left, 16, [(name, colour, "box") for name, colour, _ in segments]))
    parts.append("</svg>")
    return "".join(parts)
