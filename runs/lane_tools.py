"""An agent-led coordinator's lanes as tools: one function tool per lane.

Each call of a lane tool is a run of its own (Run.lane, Run.parent, Run.tool_call_id) in that
lane's sandbox, executed by the ordinary executor: it streams live into the lane's column, has its
own usage, status, event log, heartbeat and cancel flag, and survives in the database like any
run. (The SDK's `Agent.as_tool(on_stream=...)` would stream the nested run's events only into the
coordinator's callback, with no row, no cancel flag and no replay of its own.)

Calls to one lane wait for each other (one sandbox, one run at a time); calls to different lanes
run at once (the SDK runs a turn's function calls concurrently). A lane that fails, or cannot
start, returns its error to the coordinator as the tool's output. Cancelling the coordinator
cancels the calls it launched: they end *cancelled*, not interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re

from agents import FunctionTool, ToolOutputText
from agents.tool_context import ToolContext
from asgiref.sync import sync_to_async
from django.conf import settings

from lib.errors import describe_error
from sandboxes.models import Preview, SandboxSession
from sandboxes.screenshots import ScreenshotFailed, screenshot_for_model
from sandboxes.services import session_start

from .event_log import EventLog
from .models import Lane, Run
from .services import run_cancel, run_end_unstarted

logger = logging.getLogger(__name__)

# How long a cancelled coordinator waits for a running lane call to stop and store its sandbox.
CANCEL_WAIT_SECONDS = 30
HOLD_POLLS = 20  # x 0.25 s: longer than the executor's cancel poll
INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "input": {
            "type": "string",
            "description": "What this lane should do: its task, in full (it sees nothing else).",
        }
    },
    "required": ["input"],
    "additionalProperties": False,
}


def lane_tool_name(label: str, taken: set[str] | None = None) -> str:
    """A tool name from a lane's label: lane_frontend, lane_editorial_2, …"""
    base = "lane_" + (re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "x")[:50]
    name, n = base, 2
    while taken and name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


class LaneTools:
    """The tools of one coordinator run, and the per-lane queues its calls wait in."""

    def __init__(self, coordinator: Run, log: EventLog) -> None:
        self.coordinator = coordinator
        self.log = log
        self._locks: dict[int, asyncio.Lock] = {}
        self._running: dict[int, asyncio.Future] = {}  # lane call run id -> its executor

    async def build(self) -> list[FunctionTool]:
        lanes = Lane.objects.filter(group_id=self.coordinator.lane_group_id).select_related(
            "session"
        )
        return [self._tool(lane) async for lane in lanes]

    def _tool(self, lane: Lane) -> FunctionTool:
        async def invoke(context: ToolContext, arguments: str) -> str:
            return await self.call(lane, context.tool_call_id, arguments)

        return FunctionTool(
            name=lane.tool_name,
            description=lane.description,
            params_json_schema=INPUT_SCHEMA,
            on_invoke_tool=invoke,
            strict_json_schema=True,
        )

    async def call(self, lane: Lane, call_id: str, arguments: str) -> str:
        try:
            prompt = str(json.loads(arguments or "{}").get("input", "")).strip()
        except (ValueError, AttributeError):
            prompt = ""
        if not prompt:
            return f"Lane “{lane.label}” was not called: give it an input (its task)."
        coordinator = self.coordinator
        run = await Run.objects.acreate(
            owner_id=coordinator.owner_id,
            session_id=lane.session_id,
            lane_group_id=coordinator.lane_group_id,
            lane=lane,
            lane_label=lane.label,
            parent=coordinator,
            tool_call_id=call_id,
            config=lane.config,
            prompt=prompt,
        )
        await self.log.emit(
            "lane_call",
            {
                "lane": lane.pk,
                "label": lane.label,
                "run": run.pk,
                "call": call_id,
                "prompt": prompt[:2000],
            },
        )
        await EventLog(run).emit_state()
        try:
            async with self._locks.setdefault(lane.pk, asyncio.Lock()):
                await self._execute(lane, run)
        except asyncio.CancelledError:
            await self._stop(run)
            raise
        except Exception as error:
            logger.warning("Lane call %s failed", run.pk, exc_info=True)
            await run_end_unstarted(run=run, status=Run.Status.FAILED, error=describe_error(error))
        await run.arefresh_from_db()
        await self._hold_if_cancelling()
        return await self._outcome(lane, run)

    async def _hold_if_cancelling(self) -> None:
        """A lane that ended because its coordinator is being cancelled keeps its output: the
        coordinator's watcher cancels this call within a poll, so the model is not asked again
        to read outputs nobody wants."""
        for _ in range(HOLD_POLLS):
            if not await Run.objects.filter(
                pk=self.coordinator.pk, cancel_requested=True
            ).aexists():
                return
            await asyncio.sleep(0.25)

    async def _execute(self, lane: Lane, run: Run) -> None:
        from .executor import run_execute

        session = lane.session
        await session.arefresh_from_db()
        if session.status == SandboxSession.Status.CREATING:
            await session_start(session_id=session.pk)
            await session.arefresh_from_db()
        if session.status != SandboxSession.Status.RUNNING:
            reason = session.last_error or session.get_status_display().lower()
            await run_end_unstarted(
                run=run, status=Run.Status.FAILED, error=f"Its sandbox did not start: {reason}"
            )
            return
        # Shielded: a cancelled coordinator asks the lane run to stop (see _stop), so that it
        # ends cancelled and stores its sandbox, instead of being torn down mid-command.
        task = asyncio.ensure_future(run_execute(run_id=run.pk))
        self._running[run.pk] = task
        await asyncio.shield(task)
        self._running.pop(run.pk, None)

    async def _stop(self, run: Run) -> None:
        """The coordinator was cancelled: cancel this call, queued or running, and let it end."""
        await run_cancel(run=run)
        task = self._running.get(run.pk)
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), CANCEL_WAIT_SECONDS)

    async def settle(self) -> None:
        """Wait (bounded) for calls still executing: the SDK does not wait for the tool tasks
        it cancels, and a cancelled coordinator should end after the lanes it launched."""
        running = [task for task in self._running.values() if not task.done()]
        if running:
            await asyncio.wait(running, timeout=CANCEL_WAIT_SECONDS)

    async def _outcome(self, lane: Lane, run: Run) -> str | list:
        """What the coordinator reads back: the lane's answer, or why it has none; a direction
        that serves its app adds the preview's URL and a screenshot, as an image the model
        sees (it can judge a design it has not read the code of)."""
        head = f"Lane “{lane.label}” (run #{run.pk})"
        if run.status != Run.Status.SUCCEEDED:
            reason = run.error or "no reason given"
            return f"{head} {run.get_status_display().lower()}: {reason}"
        text = f"{head} succeeded.\n{run.final_output.strip() or '(no output)'}"
        if not lane.serves_preview:
            return text
        preview = await _ready(await _serve(lane.session), settings.LANE_PREVIEW_WAIT_SECONDS)
        where = f"p{preview.pk}.{settings.PREVIEW_DOMAIN}, through the dashboard"
        if preview.status != Preview.Status.READY:
            state = preview.get_status_display().lower()
            why = f": {preview.error}" if preview.error else ""
            return f"{text}\nPreview #{preview.pk} ({where}) is {state}{why}; no screenshot."
        try:
            shot, image = await screenshot_for_model(session=lane.session, preview=preview)
        except ScreenshotFailed as error:
            return f"{text}\nPreview: {where} (ready). The screenshot failed: {error}"
        caption = (
            f"{text}\nPreview: {where} (ready). Screenshot #{shot.pk} of it, "
            f"{shot.width}x{shot.height}, follows."
        )
        return [ToolOutputText(text=caption), image]


async def _ready(preview: Preview, seconds: int) -> Preview:
    """The preview once it has booted (ready or failed), or as it is after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while preview.status == Preview.Status.STARTING and loop.time() < deadline:
        await asyncio.sleep(1)
        await preview.arefresh_from_db(fields=["status", "error"])
    return preview


async def _serve(session: SandboxSession) -> Preview:
    """The session's running preview, else a new one (booting in the background)."""
    from pathlib import Path

    from sandboxes.previews import app_command, preview_create

    preview = await Preview.objects.active().filter(session=session).afirst()
    if preview is not None:
        return preview  # Vite reloads the page the lane just changed
    command = await sync_to_async(app_command)(Path(session.workspace_root))
    return await sync_to_async(preview_create)(session=session, command=command)
