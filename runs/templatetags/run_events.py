import hashlib

from django import template

register = template.Library()


@register.filter
def dom_id(run_id, item_id) -> str:
    """A stable, valid DOM id for an SDK item or call id within one run's page."""
    digest = hashlib.sha1(str(item_id).encode()).hexdigest()[:12]
    return f"r{run_id}-i{digest}"


def diff_line_class(line: str) -> str:
    """The CSS class of one line of a diff or an apply_patch envelope."""
    if line.startswith("***"):
        return "d-file"
    if line.startswith("@@"):
        return "d-hunk"
    if line.startswith("+"):
        return "d-add"
    if line.startswith("-"):
        return "d-del"
    return "d-ctx"


@register.filter
def patch_lines(patch: str) -> list[tuple[str, str]]:
    """Classify apply_patch lines so the page can show them as a readable diff."""
    return [(diff_line_class(line), line) for line in (patch or "").splitlines()]
