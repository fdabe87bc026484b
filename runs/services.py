"""Writes for agent configs and runs."""

from __future__ import annotations

import asyncio

from django.db import transaction
from django.utils import timezone

from sandboxes.hosts import task_for
from sandboxes.models import SandboxSession
from sandboxes.services import session_touch

from .event_log import EventLog
from .mcp import builtin_server_spec, http_server_spec
from .models import AgentConfig, Approval, Run, Thread

# A session shutting down waits this long (x 0.25 s) for its runs' executors to stop and store
# the sandbox's state.
SHUTDOWN_WAIT_STEPS = 60
AGENT_FIELDS = (
    "name",
    "model",
    "instructions",
    "developer_instructions",
    "capabilities",
    "tool_choice",
    "max_turns",
    "approvals",
    "output_schema",
)


class RunRefused(Exception):
    pass


class ApprovalRefused(Exception):
    pass


def thread_start(*, owner, session: SandboxSession) -> Thread:
    """A new, empty conversation on a session (its files stay as they are)."""
    return Thread.objects.create(owner=owner, session=session)


def run_start(
    *,
    owner,
    session: SandboxSession,
    config: dict,
    prompt: str,
    agent_config: AgentConfig | None = None,
    thread: Thread | None = None,
) -> Run:
    """Queue a turn on a session and hand it to the task backend.

    It continues `thread` (one of the session's conversations), by default the session's latest
    conversation, started if it has none.
    """
    from .tasks import run_execute_task

    if not prompt.strip():
        raise RunRefused("Write a prompt for the agent.")
    if thread is not None and thread.session_id != session.pk:
        raise RunRefused("That conversation belongs to another sandbox.")
    with transaction.atomic():
        session = SandboxSession.objects.select_for_update().get(pk=session.pk)
        if session.status != SandboxSession.Status.RUNNING:
            raise RunRefused(
                f"The sandbox is {session.get_status_display().lower()}; runs need a running one."
            )
        busy = Run.objects.on_session(session).active().first()
        if busy is not None:
            if busy.status == Run.Status.AWAITING_APPROVAL:
                raise RunRefused(
                    f"Run #{busy.pk} on this sandbox is awaiting approval: approve, reject or "
                    "cancel it first."
                )
            raise RunRefused("Another run is still active on this sandbox; wait or cancel it.")
        if thread is None:
            thread = session.threads.first() or Thread.objects.create(owner=owner, session=session)
        run = Run.objects.create(
            owner=owner,
            session=session,
            agent_config=agent_config,
            config=config,
            prompt=prompt,
            thread=thread,
            turn=thread.runs.count() + 1,
        )
        session_touch(session=session)
        transaction.on_commit(lambda: task_for(run_execute_task, session).enqueue(run.pk))
    return run


async def run_cancel(*, run: Run) -> None:
    """Stop a run. A running one is stopped by its executor; a queued one, or one awaiting
    approval (no executor holds it), ends here."""
    await Run.objects.filter(pk=run.pk).aupdate(cancel_requested=True)
    if await run_end_unstarted(
        run=run, status=Run.Status.CANCELLED, error="Cancelled before it started."
    ):
        return
    await run_end_awaiting(
        run=run,
        status=Run.Status.CANCELLED,
        error="Cancelled while it awaited approval; the pending calls never ran.",
        decision=Approval.Decision.CANCELLED,
    )


async def run_end_awaiting(*, run: Run, status: str, error: str, decision: str) -> bool:
    """End a run that waits for approval (cancelled, or nobody answered in time): its pending
    calls get `decision` and never run. False if it was not waiting any more."""
    ended = await Run.objects.filter(pk=run.pk, status=Run.Status.AWAITING_APPROVAL).aupdate(
        status=status, error=error, finished_at=timezone.now(), paused_state=""
    )
    if not ended:
        return False
    await run.arefresh_from_db()
    log = EventLog(run)
    pending = Approval.objects.filter(run=run, decision=Approval.Decision.PENDING)
    async for approval in pending:
        if await Approval.objects.filter(
            pk=approval.pk, decision=Approval.Decision.PENDING
        ).aupdate(decision=decision, decided_at=timezone.now()):
            await approval.arefresh_from_db()
            await log.emit("approval_decided", approval.decision_payload(note=error))
    await log.emit_state()
    return True


async def approval_decide(
    *, approval: Approval, user, approve: bool, always: bool = False, reason: str = ""
) -> Run:
    """Record a person's decision on a pending call; once none is pending, the run is queued
    again and continues from its stored RunState (in whichever process picks it up).

    `always`: approve every call of this tool for the rest of this run (the SDK's
    always_approve), the other pending ones included. `reason` is what the model is told.
    """
    from .tasks import run_execute_task

    run = await Run.objects.aget(pk=approval.run_id)
    if run.status != Run.Status.AWAITING_APPROVAL:
        raise ApprovalRefused(f"This run is {run.get_status_display().lower()}: nothing to decide.")
    decision = Approval.Decision.APPROVED if approve else Approval.Decision.REJECTED
    reason = reason.strip()[:2000]
    always = always and approve
    now = timezone.now()
    decided = Approval.objects.filter(
        pk=approval.pk, decision=Approval.Decision.PENDING, run__status=Run.Status.AWAITING_APPROVAL
    )
    if not await decided.aupdate(
        decision=decision, always=always, reason=reason, decided_by=user, decided_at=now
    ):
        await approval.arefresh_from_db()
        raise ApprovalRefused(f"This call was already {approval.get_decision_display().lower()}.")
    await approval.arefresh_from_db()
    log = EventLog(run)
    by = user.get_username()
    await log.emit("approval_decided", approval.decision_payload(by=by))
    if always:
        same_tool = Approval.objects.filter(
            run=run, tool=approval.tool, decision=Approval.Decision.PENDING
        )
        async for other in same_tool:
            if await Approval.objects.filter(
                pk=other.pk, decision=Approval.Decision.PENDING
            ).aupdate(decision=decision, always=True, decided_by=user, decided_at=now):
                await other.arefresh_from_db()
                note = f"with “approve all {approval.PLURALS[approval.kind]} for this run”"
                await log.emit("approval_decided", other.decision_payload(by=by, note=note))
    if not await Approval.objects.filter(run=run, decision=Approval.Decision.PENDING).aexists():
        resumed = await Run.objects.filter(pk=run.pk, status=Run.Status.AWAITING_APPROVAL).aupdate(
            status=Run.Status.QUEUED, awaiting_since=None
        )
        if resumed:
            await run.arefresh_from_db()
            await log.emit_state()
            session = await SandboxSession.objects.filter(pk=run.session_id).afirst()
            await task_for(run_execute_task, session).aenqueue(run.pk)
    return run


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


async def session_runs_busy(session: SandboxSession) -> str | None:
    """Why a session is busy with runs (a sandboxes busy check, registered by RunsConfig)."""
    run = await Run.objects.on_session(session).active().afirst()
    if run is None:
        return None
    if run.status == Run.Status.AWAITING_APPROVAL:
        return f"Run #{run.pk} is awaiting approval on this sandbox; decide or cancel it first."
    return "A run is active on this sandbox; wait for it or cancel it first."


async def session_runs_stop(session: SandboxSession) -> None:
    """Cancel a session's runs and give their executors time to stop and store the sandbox's
    state (a sandboxes shutdown hook, registered by RunsConfig)."""
    async for run in Run.objects.on_session(session).active():
        await run_cancel(run=run)
    for _ in range(SHUTDOWN_WAIT_STEPS):
        # A fresh query each time: an evaluated queryset answers exists() from its cache.
        if not await Run.objects.on_session(session).active().aexists():
            break
        await asyncio.sleep(0.25)


# --- agent configs -----------------------------------------------------------------------------


def agent_config_save(*, config: AgentConfig, data: dict) -> AgentConfig:
    """Save an agent config's fields (AGENT_FIELDS) from a validated form's data."""
    for name in AGENT_FIELDS:
        setattr(config, name, data[name])
    config.save()
    return config


def agent_mcp_attach(
    *, config: AgentConfig, name: str, url: str, headers: dict[str, str]
) -> AgentConfig:
    """Attach (or replace, by name) a streamable-HTTP MCP server; its URL and headers sealed."""
    servers = [s for s in config.mcp_servers if s["name"] != name]
    servers.append(http_server_spec(name=name, url=url, headers=headers))
    config.mcp_servers = servers
    config.save(update_fields=["mcp_servers"])
    return config


def agent_mcp_attach_builtin(*, config: AgentConfig, name: str = "docs") -> AgentConfig:
    """Attach the built-in offline docs server (replacing one of the same name)."""
    servers = [s for s in config.mcp_servers if s["name"] != name and s.get("kind") != "builtin"]
    servers.append(builtin_server_spec(name=name))
    config.mcp_servers = servers
    config.save(update_fields=["mcp_servers"])
    return config


def agent_mcp_detach(*, config: AgentConfig, name: str) -> AgentConfig:
    config.mcp_servers = [s for s in config.mcp_servers if s["name"] != name]
    config.save(update_fields=["mcp_servers"])
    return config
