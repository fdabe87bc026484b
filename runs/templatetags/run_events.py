import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.dateparse import parse_datetime

from lib.diffs import classify_lines
from runs import structured

register = template.Library()


@register.filter
def dom_id(run_id, item_id) -> str:
    """A stable, valid DOM id for an SDK item or call id within one run's page."""
    digest = hashlib.sha1(str(item_id).encode()).hexdigest()[:12]
    return f"r{run_id}-i{digest}"


@register.filter
def patch_lines(patch: str) -> list[tuple[str, str]]:
    """Classify apply_patch lines so the page can show them as a readable diff."""
    return classify_lines(patch)


@register.filter
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


@register.filter
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


@register.filter
def response_seconds(payload: dict) -> float | None:
    """How long a model response took, from its event's start and end times."""
    start = parse_datetime(payload.get("started_at") or "")
    end = parse_datetime(payload.get("ended_at") or "")
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


@register.filter
def result_kind(value) -> str:
    """How a structured result shows: "findings" (a table), "selection" (cards) or "data"."""
    return structured.result_kind(value)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
