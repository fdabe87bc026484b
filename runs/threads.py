"""Conversations: what a turn continues from, and what a finished turn leaves for the next.

The SDK's own mechanism: a completed run's `result.to_input_list()` is the whole conversation so
far (the history it was given, the new request, every item the run produced); the next turn
runs on that list plus its own request. We store the list per thread, replacing it after each
completed turn. A paused, failed or cancelled turn leaves it as it was: half a turn (a tool
call without its output) is not a conversation a model accepts.

Stored sealed, with every secret the dashboard knows replaced by "[redacted]": tool outputs hold
whatever a command printed.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from lib.secrets import is_sealed, process_secret_values, redact, seal, unseal

from .models import Run, Thread


def run_secret_values(run: Run) -> set[str]:
    """The secrets a run could have seen: the dashboard's keys, its MCP servers' URLs and
    headers, its sandbox's sealed options."""
    values = process_secret_values()
    for spec in run.config.get("mcp_servers") or []:
        for name in ("url", "headers", "settings"):
            if is_sealed(sealed := spec.get(name)):
                opened = unseal(sealed)
                values |= set(opened.values()) if isinstance(opened, dict) else {opened}
    if run.session is not None:
        values |= run.session.secret_values()
    return {v for v in values if isinstance(v, str)}


def turn_input(thread: Thread, prompt: str) -> list[dict[str, Any]]:
    """What the model is given for a new turn: the thread's history, then the request."""
    return [*thread.history_items(), {"role": "user", "content": prompt}]


async def thread_history_save(*, run: Run, items: list[Any]) -> None:
    """After a completed turn: its `to_input_list()` becomes the thread's history."""
    # Plain JSON (the SDK's items are; anything else is kept as its text, not lost).
    plain = json.loads(json.dumps(items, default=str))
    clean = redact(plain, run_secret_values(run))
    await Thread.objects.filter(pk=run.thread_id).aupdate(
        history=seal(clean), updated_at=timezone.now()
    )
