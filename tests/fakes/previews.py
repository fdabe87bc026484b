"""Previews on the real local backend, with real processes: what their tests share.

A preview's command here is a tiny Python HTTP server (`SERVER`), started by `supervisor` the
way the background task starts it; the helpers wait for a status, for a process group to end,
or for a URL to answer or refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path

import httpx
import pytest

from lib import task_backends
from sandboxes import previews
from sandboxes.models import Preview, SandboxSession

PYTHON = shlex.quote(sys.executable)
SERVER = f"{PYTHON} -m http.server {{port}} --bind {{host}}"


def group_members(pgid: int | None) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    if not pgid:
        return []
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry))
    return members


async def wait_for_status(preview: Preview, *statuses: str, seconds: float = 15) -> Preview:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await preview.arefresh_from_db()
        if preview.status in statuses:
            return preview
        if loop.time() > deadline:
            raise AssertionError(
                f"preview {preview.pk} is {preview.status}, not {statuses}: "
                f"{preview.error}\n{preview.log}"
            )
        await asyncio.sleep(0.05)


async def wait_until_gone(pgid: int, seconds: float = 5) -> list[int]:
    """The group's members left after waiting up to `seconds` for them all to exit."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        members = group_members(pgid)
        if not members or loop.time() > deadline:
            return members
        await asyncio.sleep(0.05)


async def answers(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(url)).status_code


async def refused(url: str) -> bool:
    try:
        await answers(url)
    except httpx.ConnectError:
        return True
    return False


@pytest.fixture
async def supervisor(monkeypatch):
    """Starts preview_boot as a task (and runs enqueued tasks on this loop); cleans up after."""
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(task_backends, "_server_loop", loop)
    before = set(task_backends._running)
    tasks: list[asyncio.Task] = []

    def start(preview: Preview) -> asyncio.Task:
        task = asyncio.create_task(previews.preview_boot(preview_id=preview.pk))
        tasks.append(task)
        return task

    yield start

    pgids = set()
    async for preview in Preview.objects.all():
        pgids.add(preview.pid)
        if preview.is_active:
            await previews.preview_stop(preview=preview)
    enqueued = [asyncio.wrap_future(f) for f in task_backends._running - before]
    for task in [*tasks, *enqueued]:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    for pgid in pgids:
        if pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


async def with_session(preview: Preview) -> Preview:
    return await Preview.objects.select_related("session").aget(pk=preview.pk)


async def new_preview(session: SandboxSession, command: str = SERVER) -> Preview:
    return await Preview.objects.acreate(session=session, command=command)
