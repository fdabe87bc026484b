"""Text and diffs: what is text, and a unified diff classified line by line for the page.

Patches in the run stream and workspace diffs share one line classifier, so both read alike.
"""

from __future__ import annotations

import codecs
import difflib


def decode_text(data: bytes, *, complete: bool = True) -> str | None:
    """UTF-8 text, or None for binary data. An incomplete prefix may end mid-character."""
    if b"\x00" in data:
        return None
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
    except UnicodeDecodeError:
        return None


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


def classify_lines(text: str) -> list[tuple[str, str]]:
    """Each line of a patch or diff with its CSS class."""
    return [(diff_line_class(line), line) for line in (text or "").splitlines()]


def diff_lines(old: str, new: str) -> list[tuple[str, str]]:
    """A unified diff of two texts, as (css class, line) pairs like the run page's patches."""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3)
    # The file's name is shown above the diff, so its ---/+++ header lines are left out.
    return [(diff_line_class(line), line) for line in diff if not line.startswith(("---", "+++"))]
