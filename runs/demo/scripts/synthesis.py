"""Without a sandbox (a lane group's coordinator): answer from the input alone."""

from __future__ import annotations

import re

from agents.items import TResponseOutputItem

from ..responses import message_item
from ..turn import Turn


def handles(turn: Turn) -> bool:
    return "exec_command" not in turn.tool_names


def plan(turn: Turn) -> list[TResponseOutputItem]:
    return [message_item(synthesis(turn.prompt), "demo-answer")]


def synthesis(text: str) -> str:
    """Sections ("## " headings, else paragraphs) with the first lines of each."""
    sections = re.split(r"(?m)^(?=## )", text)
    if len(sections) == 1:
        sections = [p for p in re.split(r"\n\s*\n", text)]
    else:
        sections = sections[1:]  # the preamble (the task) is not a finding
    sections = [s.strip() for s in sections if s.strip()]
    lines = [
        f"Offline demo synthesis (no LLM): {len(sections)} section(s), "
        f"{len(text.split())} words in."
    ]
    for section in sections[:12]:
        head, *body = section.splitlines()
        content = [
            line.strip()
            for line in body
            if line.strip() and not line.lstrip().startswith(("(Offline demo", "#", "=="))
        ]
        summary = f"- {head.removeprefix('## ')[:160]}"
        if content:
            summary += ": " + " / ".join(c[:100] for c in content[:2])
        lines.append(summary)
    return "\n".join(lines)
