import json

from django import template

from lib.diffs import classify_lines
from runs import formatting, structured

from ..event_html import dom_id as _dom_id
from ..selectors import run_log as _run_log

register = template.Library()


@register.filter
def dom_id(run_id, item_id) -> str:
    """A stable, valid DOM id for an SDK item or call id within one run's page."""
    return _dom_id(run_id, item_id)


@register.simple_tag
def run_log(run):
    """The run's stored log as its page shows it (`.html`, `.state`, `.last_seq`)."""
    return _run_log(run)


@register.filter
def patch_lines(patch: str) -> list[tuple[str, str]]:
    """Classify apply_patch lines so the page can show them as a readable diff."""
    return classify_lines(patch)


register.filter("dollars", formatting.dollars)
register.filter("seconds", formatting.seconds)
register.filter("response_seconds", formatting.response_seconds)


@register.filter
def result_kind(value) -> str:
    """How a structured result shows: "findings" (a table), "selection" (cards) or "data"."""
    return structured.result_kind(value)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
