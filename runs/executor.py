"""Execute one run: the sandbox, the SDK Runner, the event log, heartbeat and cancel.

Whatever happens, the run ends in a terminal status with a message, or waits for a person's
approval with its RunState stored (runs/approvals.py); either way its sandbox is stopped and
its state stored, and no worker waits with it. A run re-queued after the decisions continues
from that RunState; a turn of a conversation starts from its thread's history (runs/threads.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from agents import RunConfig, Runner
from agents.exceptions import MaxTurnsExceeded
from agents.run_config import SandboxRunConfig
from agents.tracing import gen_trace_id
from django.conf import settings
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from lib.errors import describe_error
from lib.processes import process_identity
from sandboxes.services import sandbox_attached

from .agents_factory import build_agent
from .approvals import approvals_record, seal_state, state_with_decisions
from .event_log import EventLog
from .lane_tools import LaneTools
from .mcp import MCPServerUnavailable, connect_servers
from .models import LaneGroup, ModelPrice, Run
from .sdk_events import StreamNormaliser
from .services import run_cancel
from .threads import thread_history_save, turn_input

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5
STATE_INTERVAL_SECONDS = 1.0


def this_executor() -> str:
    """Who executes a run: "<machine>/<pid>:<start time>", so that a reaper on the same
    machine sees at once that the process is gone (runs/reaper.py)."""
    return f"{settings.HOST_ID}/{process_identity()}"


async def run_execute(*, run_id: int) -> None:
    # Claim the run: exactly one executor moves it from queued to running (a run continuing
    # after its approvals keeps the time it first started).
    now = timezone.now()
    claimed = await Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).aupdate(
        status=Run.Status.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        heartbeat_at=now,
        executor=this_executor(),
    )
    if not claimed:
        return
    run = await Run.objects.select_related("session", "thread", "lane_group").aget(pk=run_id)
    log = EventLog(run)
    await log.emit_state()
    await Executor(run, log).execute()


class Executor:
    def __init__(self, run: Run, log: EventLog) -> None:
        self.run = run
        self.log = log
        self.cancelled = False
        self.result = None
        self.price: ModelPrice | None = None
        self.lanes: LaneTools | None = None
        self._state_at = float("-inf")

    async def execute(self) -> None:
        run = self.run
        self.price = await ModelPrice.objects.filter(model=run.model).afirst()
        try:
            if run.cancel_requested:
                self.cancelled = True
            elif run.session_id is None:
                await self._run_agent(None)
            else:
                async with sandbox_attached(run.session) as sandbox:
                    await self._run_agent(sandbox)
            # The sandbox is stopped and stored by now: a paused run holds nothing.
            if self.lanes is not None:
                await self.lanes.settle()  # a cancelled coordinator's calls end first
                # A cancel that came while the lanes ended wins over the answer that followed.
                self.cancelled = (
                    self.cancelled
                    or await Run.objects.filter(pk=run.pk, cancel_requested=True).aexists()
                )
            if self.cancelled:
                run.status = Run.Status.CANCELLED
                run.error = "Cancelled by the user."
            elif self.result is not None and self.result.interruptions:
                await self._await_approval(self.result)
                return
            else:
                await self._complete(self.result)
                run.status = Run.Status.SUCCEEDED
        except MaxTurnsExceeded as error:
            run.status = Run.Status.FAILED
            run.error = f"The agent used its {run.config.get('max_turns')} turns: {error}"
        except asyncio.CancelledError:
            run.status = Run.Status.INTERRUPTED
            run.error = "The server stopped while this run was executing."
            await self._finish()
            raise
        except MCPServerUnavailable as error:
            logger.warning("Run %s failed: %s", run.pk, error)
            run.status = Run.Status.FAILED
            run.error = str(error)
        except Exception as error:
            logger.warning("Run %s failed", run.pk, exc_info=True)
            run.status = Run.Status.FAILED
            run.error = describe_error(error)
        await self._finish()

    async def _run_agent(self, sandbox) -> None:
        async with contextlib.AsyncExitStack() as stack:
            specs = self.run.config.get("mcp_servers") or []
            servers = await connect_servers(
                specs,
                sandbox,
                stack,
                require_approval="mcp" in (self.run.config.get("approvals") or ()),
            )
            tool_servers = {}
            for server, url, tools in servers:
                await self.log.emit(
                    "mcp_tools", {"server": server.name, "url": url, "tools": tools}
                )
                tool_servers.update(dict.fromkeys(tools, server.name))
            agent = build_agent(
                self.run.config,
                sandbox=sandbox is not None,
                mcp_servers=[server for server, _, _ in servers],
                tools=await self._lane_tools(),
            )
            await self._stream(agent, sandbox, StreamNormaliser(tool_servers=tool_servers))

    async def _lane_tools(self) -> list:
        """An agent-led group's coordinator calls its lanes as tools (runs/lane_tools.py)."""
        run = self.run
        group = run.lane_group
        if not run.is_coordinator or group is None or group.mode != LaneGroup.Mode.AGENT:
            return []
        self.lanes = LaneTools(run, self.log)
        return await self.lanes.build()

    async def _input(self, agent):
        """A paused run continues from its RunState with the decisions applied; a turn of a
        conversation starts from the thread's history; a one-shot run from its prompt."""
        run = self.run
        if run.paused_state:
            return await state_with_decisions(agent, run)
        if run.thread_id is not None:
            return turn_input(run.thread, run.prompt)
        return run.prompt

    async def _trace_id(self) -> str | None:
        """With tracing to OpenAI on, the run's trace (one per run, kept across its continuations
        after approvals) is stored so that its page links to it."""
        run = self.run
        if not settings.AGENTS_TRACING:
            return None
        if not run.trace_id:
            run.trace_id = gen_trace_id()
            await run.asave(update_fields=["trace_id"])
        return run.trace_id

    async def _stream(self, agent, sandbox, normaliser: StreamNormaliser) -> None:
        run = self.run
        trace_id = await self._trace_id()
        result = Runner.run_streamed(
            agent,
            await self._input(agent),
            # On a continued run the SDK keeps the RunState's own limit and count.
            max_turns=run.config.get("max_turns") or 20,
            run_config=RunConfig(
                sandbox=SandboxRunConfig(session=sandbox) if sandbox is not None else None,
                tracing_disabled=not settings.AGENTS_TRACING,
                trace_id=trace_id,
            ),
        )
        watcher = asyncio.create_task(self._watch(result))
        try:
            async for event in result.stream_events():
                for kind, payload in normaliser.feed(event):
                    if kind == "response":
                        await self._add_response(payload)
                    else:
                        await self.log.emit(kind, payload)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self.result = result
        self._take_usage(result)

    async def _complete(self, result) -> None:
        """A finished turn: its answer, and the conversation the next turn continues from."""
        run = self.run
        output = result.final_output
        if isinstance(output, str):
            run.final_output = output
        else:  # validated against the agent's output schema (runs/structured.py)
            run.structured_output = output
            run.final_output = json.dumps(output, indent=2, ensure_ascii=False)
        if run.thread_id is not None:
            await thread_history_save(run=run, items=result.to_input_list())

    async def _await_approval(self, result) -> None:
        """Store the paused RunState and one Approval per call, then let the run wait: the
        decisions re-queue it (services.approval_decide)."""
        run = self.run
        run.paused_state = seal_state(result)
        run.status = Run.Status.AWAITING_APPROVAL
        run.awaiting_since = timezone.now()
        approvals = await approvals_record(run, result.interruptions)
        await run.asave(
            update_fields=["status", "paused_state", "awaiting_since", "cost", *Run.USAGE_FIELDS]
        )
        for approval in approvals:
            await self.log.emit("approval_requested", approval.payload())
        await self.log.emit_state()

    def _price_run(self) -> None:
        self.run.cost = None if self.price is None else self.price.cost(self.run.usage())

    async def _add_response(self, response: dict) -> None:
        """A model response: an event with its timing, usage and cost (the timeline's bar),
        and its usage added to the run's. The run's state is shown at most once a second (a
        state event per response was a third of a tool-heavy run's events); _finish stores the
        final count."""
        run = self.run
        response["cost"] = None if self.price is None else str(self.price.cost(response))
        await self.log.emit("response", response)
        for name in Run.USAGE_FIELDS:
            setattr(run, name, getattr(run, name) + response[name])
        self._price_run()
        now = asyncio.get_running_loop().time()
        if now - self._state_at < STATE_INTERVAL_SECONDS:
            return
        self._state_at = now
        await run.asave(update_fields=["cost", *Run.USAGE_FIELDS])
        await self.log.emit_state()

    def _take_usage(self, result) -> None:
        """The SDK's own count is the truth at the end (it includes retried requests)."""
        usage = result.context_wrapper.usage
        if usage.requests or usage.total_tokens:
            run = self.run
            run.requests = usage.requests
            run.input_tokens = usage.input_tokens
            run.cached_input_tokens = usage.input_tokens_details.cached_tokens or 0
            run.output_tokens = usage.output_tokens
            run.reasoning_tokens = usage.output_tokens_details.reasoning_tokens or 0
            run.total_tokens = usage.total_tokens
            self._price_run()

    async def _watch(self, result) -> None:
        """Heartbeat, and the cancel flag (set from any process) turned into a real cancel."""
        last_beat = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            now = loop.time()
            if now - last_beat >= settings.RUN_HEARTBEAT_SECONDS:
                last_beat = now
                await Run.objects.filter(pk=self.run.pk).aupdate(heartbeat_at=timezone.now())
            if await Run.objects.filter(pk=self.run.pk, cancel_requested=True).aexists():
                self.cancelled = True
                result.cancel(mode="immediate")
                await self._cancel_lane_calls()
                return

    async def _cancel_lane_calls(self) -> None:
        """A coordinator's lane calls end with it (its tool tasks stop them too; this also
        reaches calls that another process executes)."""
        async for call in Run.objects.filter(parent=self.run).active():
            await run_cancel(run=call)

    async def _finish(self) -> None:
        run = self.run
        run.finished_at = timezone.now()
        self._price_run()
        run.paused_state = ""  # an ended run never continues
        await run.asave(
            update_fields=[
                "status",
                "error",
                "final_output",
                "structured_output",
                "paused_state",
                "finished_at",
                "cost",
                *Run.USAGE_FIELDS,
            ]
        )
        await self.log.emit_state()
