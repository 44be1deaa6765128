"""Accompaniments by kind per month as a stacked bar chart, drawn on the server as SVG.

Only geometry lives here; templates/mentoring/_chart.html writes the SVG with
presentation attributes (fill=, x=, ...), which a CSP of `style-src 'self'` allows.
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class Frame:
    """The drawing's own units. The SVG is scaled to its panel's width, its text with it: a
    frame is drawn for the width it will be shown at, so its text stays readable there."""

    width: int
    height: int
    left: int
    font: int
    right: int = 10
    top: int = 12
    bottom: int = 36


# A desk's panel is some 600 to 1100 px wide. A phone's is some 300: the desk's drawing
# scaled to it wrote its labels 5 px high, its bars 130 px tall.
DESK = Frame(640, 280, left=40, font=11, right=16)
PHONE = Frame(320, 260, left=30, font=13, right=14)


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
    font: int


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


def _label_every(label: str, slot: float, font: int) -> int:
    """Label every n-th month so that labels never run into each other (a year of months on
    a phone, three years on a desk): a label is some 0.55 em a character, plus a gap."""
    return max(1, math.ceil((len(label) + 1) * 0.55 * font / slot))


def monthly_chart(rows: list[MonthKind], start: date, end: date, frame: Frame = DESK) -> Chart:
    months = _months(start, end)
    counts: dict[tuple[int, int], dict[str, int]] = {m: {} for m in months}
    for row in rows:
        if (row.year, row.month) in counts:
            counts[(row.year, row.month)][row.kind] = row.accompaniments
    totals = [sum(counts[m].values()) for m in months]
    tallest = max(totals, default=0)
    step = _step(max(tallest, 1))
    top = max(step, -(-tallest // step) * step)
    plot_w = frame.width - frame.left - frame.right
    plot_h = frame.height - frame.top - frame.bottom
    baseline = frame.top + plot_h
    slot = plot_w / max(len(months), 1)
    bar = min(48.0, slot * 0.7)
    every = _label_every("Sep 26", slot, frame.font)
    segments, labels = [], []
    for index, (year, month) in enumerate(months):
        x = frame.left + index * slot + (slot - bar) / 2
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
        if index % every == 0:
            label = f"{MONTHS[month - 1]} {str(year)[2:]}"
            labels.append(MonthLabel(round(x + bar / 2, 1), label))
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
        frame.width,
        frame.height,
        segments,
        ticks,
        labels,
        legend,
        baseline,
        frame.left,
        frame.width - frame.right,
        not segments,
        f"Accompaniments per month: {description}.",
        frame.font,
    )
