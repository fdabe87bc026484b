"""Nothing stays "running" forever: runs whose process is gone (on this machine) or whose
heartbeat went stale become interrupted, runs nobody approved in time end timed out."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q
from django.tasks.base import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from lib.db import close_broken_connections
from lib.processes import process_identity_alive
from sandboxes.models import SandboxSession
from sandboxes.reaper import reap_idle_sessions, reap_previews, reap_sessions
from sandboxes.services import session_release_after_crash

from .event_log import EventLog
from .models import Approval, Run, Worker
from .services import run_end_awaiting, run_end_unstarted

logger = logging.getLogger(__name__)


class WorkerStopped(Exception):
    """Set on a task row whose worker stopped (or was killed) before the task finished."""


def reap_period() -> int:
    """Seconds between reaper passes (each process that runs the reaper)."""
    return max(1, settings.RUN_HEARTBEAT_SECONDS)


def stale_cutoff():
    """Older heartbeats are dead ones. A pass runs every reap_period(), so a run whose last
    beat is this old is ended within RUN_STALE_SECONDS of that beat (settings keep the cutoff
    at least two heartbeats long)."""
    return timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS - reap_period())


async def _interrupt(run: Run, reason: str) -> bool:
    """End a running run as interrupted (once: another reaper may get there first)."""
    updated = await Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).aupdate(
        status=Run.Status.INTERRUPTED, error=reason, finished_at=timezone.now()
    )
    if not updated:
        return False
    await run.arefresh_from_db()
    await EventLog(run).emit_state()
    if run.session_id:
        session = await SandboxSession.objects.aget(pk=run.session_id)
        await session_release_after_crash(session=session)
    return True


async def reap_orphaned_runs() -> int:
    """Runs whose executing process, on this machine, is gone: ended at once, whatever their
    last heartbeat (a server restarted right after a kill -9 ends them at start-up)."""
    mine = Run.objects.filter(
        status=Run.Status.RUNNING, executor__startswith=f"{settings.HOST_ID}/"
    )
    count = 0
    async for run in mine:
        identity = run.executor.removeprefix(f"{settings.HOST_ID}/")
        if await sync_to_async(process_identity_alive)(identity):
            continue
        pid = identity.partition(":")[0]
        reason = (
            f"The process executing this run (pid {pid} on {settings.HOST_ID}) is gone: the "
            "server was restarted or the worker was killed."
        )
        count += await _interrupt(run, reason)
    return count


async def reap_stale_runs() -> int:
    cutoff = stale_cutoff()
    stale = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    count = 0
    async for run in stale:
        reason = (
            f"No heartbeat for over {settings.RUN_STALE_SECONDS - reap_period()} s: the process "
            "executing this run stopped (server restart or killed worker)."
        )
        count += await _interrupt(run, reason)
    return count + await _reap_orphaned_coordinators(cutoff) + await _reap_orphaned_lane_calls()


async def _reap_orphaned_coordinators(cutoff) -> int:
    """A coordinator waits queued while its lanes run; if the process running the group died,
    nothing will ever start it. Once no lane is active, end it with the reason."""
    count = 0
    waiting = Run.objects.filter(
        is_coordinator=True, status=Run.Status.QUEUED, created_at__lt=cutoff
    )
    async for run in waiting:
        lanes_active = (
            await Run.objects.filter(lane_group_id=run.lane_group_id, is_coordinator=False)
            .active()
            .aexists()
        )
        if not lanes_active and await run_end_unstarted(
            run=run,
            status=Run.Status.INTERRUPTED,
            error="The process running this lane group stopped before the coordinator started.",
        ):
            count += 1
    return count


async def _reap_orphaned_lane_calls() -> int:
    """A lane call queued behind another call to its lane is started by its coordinator's
    process; once that coordinator has ended (it died, or was reaped), nothing will."""
    count = 0
    orphans = Run.objects.filter(parent__isnull=False, status=Run.Status.QUEUED).exclude(
        parent__status__in=Run.ACTIVE_STATUSES
    )
    async for run in orphans:
        if await run_end_unstarted(
            run=run,
            status=Run.Status.INTERRUPTED,
            error="Its coordinator ended before this lane call started.",
        ):
            count += 1
    return count


async def reap_unanswered_approvals() -> int:
    """Runs nobody approved or rejected within RUN_APPROVAL_TIMEOUT_SECONDS end "timed out";
    their pending calls never run. (They hold no worker and no sandbox while they wait.)"""
    timeout = settings.RUN_APPROVAL_TIMEOUT_SECONDS
    cutoff = timezone.now() - timedelta(seconds=timeout)
    waiting = Run.objects.filter(status=Run.Status.AWAITING_APPROVAL, awaiting_since__lt=cutoff)
    count = 0
    async for run in waiting:
        minutes = f"{timeout // 60} min" if timeout >= 120 else f"{timeout} s"
        if await run_end_awaiting(
            run=run,
            status=Run.Status.TIMED_OUT,
            error=f"Nobody approved or rejected the pending call within {minutes}; the run was "
            "ended and the call never ran.",
            decision=Approval.Decision.EXPIRED,
        ):
            count += 1
    return count


async def reap_dead_workers() -> int:
    """`manage.py worker` processes that stopped beating were killed: the task rows they held
    end failed (their runs are reaped by their own heartbeat above), and they leave the list."""
    dead = Worker.objects.filter(beat_at__lt=stale_cutoff())
    count = 0
    async for worker in dead:
        # Few rows run at once; JSON containment is not portable (SQLite has none).
        async for row in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING):
            if row.worker_ids and row.worker_ids[-1] == worker.worker_id:
                await sync_to_async(row.set_failed)(
                    WorkerStopped(
                        f"Worker {worker.worker_id} on {worker.host} stopped beating (killed?) "
                        "before the task finished."
                    )
                )
                count += 1
        await worker.adelete()
    return count


async def reap_once() -> dict[str, int]:
    """One pass: stale runs, unanswered approvals, dead previews and stray processes, vanished
    sandboxes."""
    return {
        "runs interrupted (process gone)": await reap_orphaned_runs(),
        "runs interrupted": await reap_stale_runs(),
        "task rows of dead workers failed": await reap_dead_workers(),
        "runs timed out awaiting approval": await reap_unanswered_approvals(),
        "previews and processes": await reap_previews(),
        "sessions and workspaces": await reap_sessions(),
        "idle local sandboxes paused": await reap_idle_sessions(),
    }


async def reap_forever() -> None:
    while True:
        try:
            await sync_to_async(close_broken_connections)()
            for what, count in (await reap_once()).items():
                if count:
                    logger.warning("Reaper: %d %s", count, what)
        except Exception:
            logger.exception("Reaper pass failed")
        await asyncio.sleep(reap_period())
