"""Nothing of a sandbox outlives it: the reaper's passes over sessions, workspaces and previews.

Local sessions whose workspace vanished end stopped; workspaces under SANDBOX_WORKSPACE_DIR
that no live session owns are removed once old; previews whose dev server died end failed,
boots nobody finishes end failed, and processes of ended previews are stopped. Runs are reaped
by their own app (runs.reaper), which also runs these passes.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from lib.processes import process_group_alive, stop_process_group

from . import hooks, services
from .backends import LocalBackend
from .models import Preview, SandboxSession
from .previews import preview_check, preview_set

ORPHAN_AGE_SECONDS = 3600
logger = logging.getLogger(__name__)


async def reap_sessions() -> int:
    """Local sessions whose workspace vanished end stopped; workspaces under
    SANDBOX_WORKSPACE_DIR that no live session owns (left by a crash) are removed once they are
    an hour old. Nothing outside that directory is touched."""
    live = SandboxSession.objects.filter(status__in=SandboxSession.LIVE_STATUSES)
    local = live.filter(backend=SandboxSession.Backend.LOCAL)
    # Another machine's folders are not missing, only not here (sandboxes/hosts.py).
    sessions = [s async for s in local if not s.elsewhere]
    vanished, orphans = await sync_to_async(_scan_local_workspaces)(sessions)
    for session in vanished:
        session.status = SandboxSession.Status.STOPPED
        session.stopped_at = timezone.now()
        session.last_error = (
            f"Its workspace {session.workspace_root} is gone; the sandbox no longer exists."
        )
        await session.asave(update_fields=["status", "stopped_at", "last_error"])
    for path in orphans:
        if not await live.filter(sdk_state__manifest__root=path).aexists():
            await sync_to_async(shutil.rmtree)(path, ignore_errors=True)
    return len(vanished) + len(orphans)


def _scan_local_workspaces(
    sessions: list[SandboxSession],
) -> tuple[list[SandboxSession], list[str]]:
    owned = {os.path.realpath(s.workspace_root) for s in sessions if s.workspace_root}
    vanished = [
        s
        for s in sessions
        if s.workspace_root
        and s.status != SandboxSession.Status.CREATING
        and not os.path.isdir(s.workspace_root)
    ]
    base = settings.SANDBOX_WORKSPACE_DIR
    orphans = []
    for name in os.listdir(base) if os.path.isdir(base) else []:
        path = os.path.realpath(os.path.join(base, name))
        if not name.startswith(LocalBackend.WORKSPACE_PREFIX) or path in owned:
            continue
        try:
            if time.time() - os.path.getmtime(path) > ORPHAN_AGE_SECONDS:
                orphans.append(path)
        except OSError:
            continue
    return vanished, orphans


async def reap_idle_sessions() -> int:
    """Local sandboxes past their idle deadline (timeout_at, SANDBOX_IDLE_MINUTES after they
    last started, resumed, ran something or were extended) are paused: their previews and
    processes stop, their workspace is kept. One still busy (a run active or waiting for an
    approval) gets a fresh deadline instead: idle time counts from the last time it was busy."""
    now = timezone.now()
    due = SandboxSession.objects.filter(
        backend=SandboxSession.Backend.LOCAL,
        status=SandboxSession.Status.RUNNING,
        timeout_at__lt=now,
    )
    paused = 0
    async for session in due:
        if await hooks.session_busy_reason(session):
            seconds = LocalBackend().timeout_seconds(session.options) or 0
            session.timeout_at = now + timedelta(seconds=seconds) if seconds else None
            await session.asave(update_fields=["timeout_at"])
            continue
        try:
            await services.session_pause(session=session)
        except (services.SessionBusy, services.SessionNotReady):
            continue
        except Exception:
            logger.warning("Pausing idle session %s failed", session.pk, exc_info=True)
            continue
        paused += 1
    return paused


async def reap_previews() -> int:
    """Previews whose dev server died end failed; boots that no task finishes end failed too
    (the process that ran them stopped) and what they started is stopped."""
    count = 0
    ready = Preview.objects.filter(status=Preview.Status.READY).select_related("session")
    async for preview in ready:
        if (await preview_check(preview=preview)).status == Preview.Status.FAILED:
            count += 1
    cutoff = timezone.now() - timedelta(seconds=settings.PREVIEW_BOOT_SECONDS + 60)
    async for preview in Preview.objects.filter(
        status=Preview.Status.STARTING, created_at__lt=cutoff
    ).select_related("session"):
        if not preview.session.elsewhere:
            await stop_process_group(preview.pid)
        await preview_set(
            preview,
            status=Preview.Status.FAILED,
            error="The boot was interrupted (the dashboard process running it stopped).",
            stopped_at=timezone.now(),
        )
        count += 1
    # Processes of previews that ended but outlived it (a crash between the row and the kill).
    recent = timezone.now() - timedelta(days=1)
    ended = Preview.objects.filter(
        status__in=[Preview.Status.STOPPED, Preview.Status.FAILED],
        pid__isnull=False,
        created_at__gte=recent,
    ).select_related("session")
    async for preview in ended:
        if preview.session.elsewhere:
            continue  # a process group id of another machine
        if await sync_to_async(process_group_alive)(preview.pid):
            await stop_process_group(preview.pid)
            count += 1
    return count
