"""Accompaniments by kind per month as a stacked bar chart, drawn on the server as SVG.

Only geometry lives here; templates/mentoring/_chart.html writes the SVG with
presentation attributes (fill=, x=, ...), which a CSP of `style-src 'self'` allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from portal.models import AccompanimentKind
from portal.services.mentor_reports import MonthKind

# Colour-blind-safe palette (Okabe-Ito and neighbours), one colour per kind.
COLOURS = {
    AccompanimentKind.COURT_APPEARANCE: "#0072B2",
    AccompanimentKind.LAW_ENFORCEMENT_INTERVIEW: "#D55E00",
    AccompanimentKind.STATE_ATTORNEY: "#CC79A7",
    AccompanimentKind.MEDICAL: "#009E73",
    AccompanimentKind.MENTAL_HEALTH: "#56B4E9",
    AccompanimentKind.HOUSING_PLACEMENT: "#E69F00",
    AccompanimentKind.BENEFITS_AGENCY: "#6A3D9A",
    AccompanimentKind.SCHOOL: "#8C6D31",
    AccompanimentKind.OTHER: "#7F7F7F",
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The longest period a report may cover (three years of days) touches 37 calendar months.
MAX_MONTHS = 37

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 36


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class MonthLabel:
    x: float
    label: str


@dataclass(frozen=True)
class LegendItem:
    label: str
    fill: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    segments: list[Segment]
    ticks: list[Tick]
    months: list[MonthLabel]
    legend: list[LegendItem]
    baseline: float
    left: float
    right: float
    empty: bool
    description: str


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month) and len(months) < MAX_MONTHS:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _step(top: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if top / step <= 5:
            return step
    return max(1, top // 5)


def monthly_chart(rows: list[MonthKind], start: date, end: date) -> Chart:
    months = _months(start, end)
    counts: dict[tuple[int, int], dict[str, int]] = {m: {} for m in months}
    for row in rows:
        if (row.year, row.month) in counts:
            counts[(row.year, row.month)][row.kind] = row.accompaniments
    totals = [sum(counts[m].values()) for m in months]
    tallest = max(totals, default=0)
    step = _step(max(tallest, 1))
    top = max(step, -(-tallest // step) * step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    slot = plot_w / max(len(months), 1)
    bar = min(48.0, slot * 0.7)
    segments, labels = [], []
    for index, (year, month) in enumerate(months):
        x = LEFT + index * slot + (slot - bar) / 2
        y = baseline
        for kind in AccompanimentKind:
            n = counts[(year, month)].get(kind.value, 0)
            if not n:
                continue
            height = plot_h * n / top
            y -= height
            segments.append(
                Segment(
                    round(x, 1),
                    round(y, 1),
                    round(bar, 1),
                    round(height, 1),
                    COLOURS[kind],
                    f"{MONTHS[month - 1]} {year}: {kind.label}, {n}",
                )
            )
        labels.append(MonthLabel(round(x + bar / 2, 1), f"{MONTHS[month - 1]} {str(year)[2:]}"))
    ticks = [
        Tick(round(baseline - plot_h * value / top, 1), str(value))
        for value in range(0, top + 1, step)
    ]
    used = {r.kind for r in rows}
    legend = [LegendItem(k.label, COLOURS[k]) for k in AccompanimentKind if k.value in used]
    description = "; ".join(
        f"{MONTHS[m - 1]} {y}: {total}" for (y, m), total in zip(months, totals, strict=True)
    )
    return Chart(
        WIDTH,
        HEIGHT,
        segments,
        ticks,
        labels,
        legend,
        baseline,
        LEFT,
        WIDTH - RIGHT,
        not segments,
        f"Accompaniments per month: {description}.",
    )
