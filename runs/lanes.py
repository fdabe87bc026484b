"""Lane groups: 2-6 lanes, each in its own sandbox, and a coordinator (no sandbox).

Fixed fan-out: every lane runs once, in parallel, then the coordinator is told every lane's
outcome, failures included, and writes one synthesis. Agent-led: the coordinator runs first,
with one tool per lane (runs/lane_tools.py), and calls them as it sees fit."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from django.db import transaction

from lib.errors import describe_error
from lib.secrets import seal
from sandboxes.models import Manifest, Preview, SandboxSession
from sandboxes.services import session_start

from .executor import run_execute
from .lane_tools import lane_tool_name
from .mcp import e2b_gateway_settings
from .models import Lane, LaneGroup, Run
from .services import run_cancel, run_end_unstarted

logger = logging.getLogger(__name__)

MIN_LANES, MAX_LANES = 2, 6
WAITING_PROMPT = "(waiting for the lanes to finish)"


class LaneGroupRefused(Exception):
    pass


@dataclass
class LaneSpec:
    label: str
    config: dict
    prompt: str
    manifest: Manifest | None = None
    session: SandboxSession | None = None
    backend: str = SandboxSession.Backend.LOCAL
    # Agent-led: what the coordinator's tool says the lane does (default: its label and prompt),
    # and whether a successful call serves the sandbox's app.
    description: str = ""
    serves_preview: bool = False

    def tool_description(self) -> str:
        return self.description or f"{self.label}: {self.prompt}"


def lane_group_create(
    *,
    owner,
    title: str,
    task: str,
    lanes: list[LaneSpec],
    coordinator: dict,
    preset: str = "",
    mode: str = LaneGroup.Mode.FIXED,
) -> LaneGroup:
    from .tasks import lane_group_execute_task

    if not MIN_LANES <= len(lanes) <= MAX_LANES:
        raise LaneGroupRefused(f"A lane group has {MIN_LANES} to {MAX_LANES} lanes.")
    for lane in lanes:
        if lane.session is None and lane.manifest is None:
            raise LaneGroupRefused(f"Lane “{lane.label}” needs a manifest or a sandbox.")
        if lane.session is not None and lane.session.owner_id != owner.pk:
            raise LaneGroupRefused(f"Lane “{lane.label}”: that sandbox is not yours.")
        if not lane.prompt.strip():
            raise LaneGroupRefused(f"Lane “{lane.label}” needs a prompt.")
    sessions = [lane.session.pk for lane in lanes if lane.session is not None]
    if len(sessions) != len(set(sessions)):
        raise LaneGroupRefused("One sandbox cannot be two lanes: each lane needs its own.")
    with transaction.atomic():
        for session in SandboxSession.objects.select_for_update().filter(pk__in=sessions):
            if session.status != SandboxSession.Status.RUNNING:
                raise LaneGroupRefused(f"The sandbox “{session.name}” is not running.")
            if Run.objects.on_session(session).active().exists():
                raise LaneGroupRefused(f"The sandbox “{session.name}” has an active run.")
        group = LaneGroup.objects.create(
            owner=owner, title=title, task=task, preset=preset, mode=mode
        )
        names: set[str] = set()
        for position, lane in enumerate(lanes):
            session = lane.session or _new_session(owner, title, lane)
            if mode == LaneGroup.Mode.AGENT:
                names.add(name := lane_tool_name(lane.label, names))
                Lane.objects.create(
                    group=group,
                    position=position,
                    label=lane.label,
                    tool_name=name,
                    description=lane.tool_description(),
                    session=session,
                    config=lane.config,
                    serves_preview=lane.serves_preview,
                )
                continue
            Run.objects.create(
                owner=owner,
                session=session,
                config=lane.config,
                prompt=lane.prompt,
                lane_group=group,
                lane_label=lane.label,
            )
        Run.objects.create(
            owner=owner,
            session=None,
            config=coordinator,
            prompt=task if mode == LaneGroup.Mode.AGENT else WAITING_PROMPT,
            lane_group=group,
            lane_label="Coordinator",
            is_coordinator=True,
        )
        transaction.on_commit(lambda: lane_group_execute_task.enqueue(group.pk))
    return group


def _new_session(owner, title: str, lane: LaneSpec) -> SandboxSession:
    options: dict = {"exposed_ports": [Preview.DEFAULT_PORT] if lane.serves_preview else []}
    if gateway := e2b_gateway_settings(lane.config.get("mcp_servers") or []):
        if lane.backend != SandboxSession.Backend.E2B:
            raise LaneGroupRefused(f"Lane “{lane.label}” uses E2B MCP servers: pick E2B.")
        options["mcp"] = seal(gateway)  # the sandbox is created with them; sealed at rest
    return SandboxSession.objects.create(
        owner=owner,
        manifest=lane.manifest,
        name=f"{title}: {lane.label}",
        backend=lane.backend,
        options=options,
        status=SandboxSession.Status.CREATING,
    )


async def lane_group_execute(*, group_id: int) -> None:
    group = await LaneGroup.objects.aget(pk=group_id)
    runs = Run.objects.filter(lane_group=group).select_related("session")
    if group.mode == LaneGroup.Mode.AGENT:
        # The coordinator decides; its lane tools start each lane's sandbox on its first call.
        await run_execute(run_id=(await runs.aget(is_coordinator=True)).pk)
        await SandboxSession.objects.filter(
            lanes__group=group, status=SandboxSession.Status.CREATING
        ).aupdate(
            status=SandboxSession.Status.STOPPED,
            last_error="Never started: the coordinator did not call this lane.",
        )
        return
    lanes = [run async for run in runs.filter(is_coordinator=False).order_by("pk")]
    coordinator = await runs.aget(is_coordinator=True)
    await asyncio.gather(*(_lane(run) for run in lanes))  # one failing lane blocks nobody
    outcomes = [await Run.objects.aget(pk=run.pk) for run in lanes]
    await Run.objects.filter(pk=coordinator.pk, status=Run.Status.QUEUED).aupdate(
        prompt=coordinator_prompt(group.task, outcomes)
    )
    await run_execute(run_id=coordinator.pk)


async def _lane(run: Run) -> None:
    try:
        session = run.session
        if session.status == SandboxSession.Status.CREATING:
            await session_start(session_id=session.pk)
            await session.arefresh_from_db()
        if session.status != SandboxSession.Status.RUNNING:
            await run_end_unstarted(
                run=run,
                status=Run.Status.FAILED,
                error=f"Its sandbox did not start: {session.last_error or session.status}",
            )
            return
        await run_execute(run_id=run.pk)
    except Exception as error:
        logger.warning("Lane run %s failed", run.pk, exc_info=True)
        await run_end_unstarted(run=run, status=Run.Status.FAILED, error=describe_error(error))


def coordinator_prompt(task: str, lanes: list[Run]) -> str:
    failed = [lane for lane in lanes if lane.status != Run.Status.SUCCEEDED]
    parts = [
        task.strip(),
        f"You coordinate {len(lanes)} lanes that worked in parallel"
        + (f"; {len(failed)} of them did not succeed (see below)." if failed else "."),
    ]
    for lane in lanes:
        status = lane.get_status_display().upper()
        body = lane.final_output.strip() or "(no output)"
        if lane.status != Run.Status.SUCCEEDED:
            reason = lane.error or "no reason given"
            body = f"This lane ended {lane.get_status_display().lower()}: {reason}"
        parts.append(f"## Lane “{lane.lane_label}”: {status}\n{body}")
    return "\n\n".join(parts)


async def lane_group_cancel(*, group: LaneGroup) -> None:
    # The coordinator first: it must not read its cancelled lanes' outputs as an answer.
    async for run in Run.objects.filter(lane_group=group).active().order_by("-is_coordinator"):
        await run_cancel(run=run)


async def run_after_session_start(*, run_id: int) -> None:
    """Start a new run's sandbox, then the run (a single agent launched on a fresh sandbox)."""
    await _lane(await Run.objects.select_related("session").aget(pk=run_id))
