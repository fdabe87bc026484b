"""Writes for agent configs and runs."""

from __future__ import annotations

import asyncio

from django.db import transaction
from django.utils import timezone

from sandboxes.models import SandboxSession

from .event_log import EventLog
from .mcp import http_server_spec
from .models import AgentConfig, Run

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
)


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
    from .tasks import run_execute_task

    if not prompt.strip():
        raise RunRefused("Write a prompt for the agent.")
    with transaction.atomic():
        session = SandboxSession.objects.select_for_update().get(pk=session.pk)
        if session.status != SandboxSession.Status.RUNNING:
            raise RunRefused(
                f"The sandbox is {session.get_status_display().lower()}; runs need a running one."
            )
        if Run.objects.on_session(session).active().exists():
            raise RunRefused("Another run is still active on this sandbox; wait or cancel it.")
        run = Run.objects.create(
            owner=owner, session=session, agent_config=agent_config, config=config, prompt=prompt
        )
        transaction.on_commit(lambda: run_execute_task.enqueue(run.pk))
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


async def session_runs_busy(session: SandboxSession) -> str | None:
    """Why a session is busy with runs (a sandboxes busy check, registered by RunsConfig)."""
    if await Run.objects.on_session(session).active().aexists():
        return "A run is active on this sandbox; wait for it or cancel it first."
    return None


async def session_runs_stop(session: SandboxSession) -> None:
    """Cancel a session's runs and give their executors time to stop and store the sandbox's
    state (a sandboxes shutdown hook, registered by RunsConfig)."""
    active = Run.objects.on_session(session).active()
    async for run in active:
        await run_cancel(run=run)
    for _ in range(SHUTDOWN_WAIT_STEPS):
        if not await active.aexists():
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


def agent_mcp_detach(*, config: AgentConfig, name: str) -> AgentConfig:
    config.mcp_servers = [s for s in config.mcp_servers if s["name"] != name]
    config.save(update_fields=["mcp_servers"])
    return config
