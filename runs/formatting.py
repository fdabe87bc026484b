"""Figures as the pages show them: costs, durations (templates use them as filters of
run_events; runs/event_html.py builds the log with them)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils.dateparse import parse_datetime


def dollars(cost) -> str:
    """A cost as the pages show it ("$0.0123", "$4.56"); None, no price for its model."""
    if cost is None or cost == "":
        return "no price"
    value = Decimal(str(cost))
    if value == 0:
        return "$0.00"
    # Under a dollar, to a hundredth of a cent: agent steps cost fractions of a cent.
    step = Decimal("0.0001") if value < 1 else Decimal("0.01")
    return f"${value.quantize(step, rounding=ROUND_HALF_UP):,}"


def seconds(value) -> str:
    """A duration in seconds, or a timedelta, as "850 ms", "12.3 s" or "4 min 05 s"."""
    if value is None or value == "":
        return "—"
    if hasattr(value, "total_seconds"):
        value = value.total_seconds()
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest:02d} s"


def response_seconds(payload: dict) -> float | None:
    """How long a model response took, from its event's start and end times."""
    start = parse_datetime(payload.get("started_at") or "")
    end = parse_datetime(payload.get("ended_at") or "")
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
