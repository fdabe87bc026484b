"""Writes for agent configs and runs."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from sandboxes.models import SandboxSession

from .events import EventLog
from .models import AgentConfig, Run


class RunRefused(Exception):
    pass


def run_start(
    *,
    owner,
    session: SandboxSession,
    config: dict,
    prompt: str,
    agent_config: AgentConfig | None = None,
) -> Run:
    """Queue a run on a session and hand it to the task backend."""
    from .tasks import execute_run

    if not prompt.strip():
        raise RunRefused("Write a prompt for the agent.")
    with transaction.atomic():
        session = SandboxSession.objects.select_for_update().get(pk=session.pk)
        if session.status != SandboxSession.Status.RUNNING:
            raise RunRefused(
                f"The sandbox is {session.get_status_display().lower()}; runs need a running one."
            )
        if session.runs.filter(status__in=Run.ACTIVE_STATUSES).exists():
            raise RunRefused("Another run is still active on this sandbox; wait or cancel it.")
        run = Run.objects.create(
            owner=owner, session=session, agent_config=agent_config, config=config, prompt=prompt
        )
        transaction.on_commit(lambda: execute_run.enqueue(run.pk))
    return run


async def run_cancel(*, run: Run) -> None:
    """Stop a run. A running one is stopped by its executor; a queued one ends here."""
    await Run.objects.filter(pk=run.pk).aupdate(cancel_requested=True)
    await run_end_unstarted(
        run=run, status=Run.Status.CANCELLED, error="Cancelled before it started."
    )


async def run_end_unstarted(*, run: Run, status: str, error: str) -> bool:
    """End a run that no executor has claimed; False if one already has."""
    ended = await Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).aupdate(
        status=status, error=error, finished_at=timezone.now()
    )
    if ended:
        # No executor will ever own this run, so its last state event is ours to write.
        await run.arefresh_from_db()
        await EventLog(run).emit_state()
    return bool(ended)
