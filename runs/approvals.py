"""Human approval of tool calls, with the SDK's own machinery.

A config's "ask before" kinds set `needs_approval` on the sandbox tools (agents_factory) and
`require_approval` on MCP servers (mcp). When the model calls one, the SDK ends the streamed run
with `result.interruptions` (ToolApprovalItems) and `result.to_state()`, a RunState that
serializes to JSON. The executor stores it sealed on the run, records one Approval per item and
lets the run wait without holding a worker or the sandbox. Decisions are recorded by whoever
makes them (any process); the last one re-queues the run, and the executor that picks it up
restores the RunState onto the same agent, applies each decision (`approve` / `reject` with the
person's reason as the message the model receives) and continues the run.
"""

from __future__ import annotations

import json
from typing import Any

from agents import RunState
from agents.items import ToolApprovalItem
from agents.tool import ToolOriginType

from lib.secrets import seal, unseal

from .models import Approval, Run

SHELL_TOOLS = {"exec_command": Approval.Kind.SHELL, "write_stdin": Approval.Kind.STDIN}
PATCH_TOOL = "apply_patch"


def rejection_message(approval: Approval) -> str:
    """What the model is told instead of the tool's output."""
    who = approval.decided_by.get_username() if approval.decided_by else "The user"
    text = f"{who} rejected this call; it did not run."
    if approval.reason:
        text += f" Their reason: {approval.reason}"
    return text


def _arguments(item: ToolApprovalItem) -> str:
    arguments = item.arguments
    return arguments if isinstance(arguments, str) else json.dumps(arguments or {})


def approval_fields(item: ToolApprovalItem) -> dict[str, Any]:
    """An interruption as an Approval's fields: its kind and exactly what would run."""
    tool = item.name or "tool"
    origin = item.tool_origin
    if origin is not None and origin.type == ToolOriginType.MCP:
        return {
            "tool": tool,
            "kind": Approval.Kind.MCP,
            "detail": {"server": origin.mcp_server_name or "", "arguments": _arguments(item)},
        }
    if tool == PATCH_TOOL:
        return {"tool": tool, "kind": Approval.Kind.PATCH, "detail": {"patch": _arguments(item)}}
    if tool in SHELL_TOOLS:
        try:
            arguments = json.loads(_arguments(item))
        except ValueError:
            arguments = {}
        if tool == "exec_command":
            detail = {"command": str(arguments.get("cmd", _arguments(item)))}
        else:
            detail = {
                "input": str(arguments.get("chars", "")),
                "process": str(arguments.get("session_id", "")),
            }
        return {"tool": tool, "kind": SHELL_TOOLS[tool], "detail": detail}
    return {"tool": tool, "kind": Approval.Kind.TOOL, "detail": {"arguments": _arguments(item)}}


def seal_state(result: Any) -> str:
    """A paused run's RunState, sealed: its conversation holds whatever commands printed."""
    return seal(result.to_state().to_json())


async def approvals_record(run: Run, interruptions: list[ToolApprovalItem]) -> list[Approval]:
    """One pending Approval per interruption (an already-recorded call keeps its row)."""
    recorded = []
    for item in interruptions:
        approval, _ = await Approval.objects.aget_or_create(
            run=run, call_id=item.call_id or "", defaults=approval_fields(item)
        )
        recorded.append(approval)
    return recorded


async def state_with_decisions(agent: Any, run: Run) -> RunState:
    """The paused run's RunState on `agent`, every recorded decision applied to it."""
    state = await RunState.from_json(agent, unseal(run.paused_state))
    decided = {
        a.call_id: a
        async for a in Approval.objects.filter(
            run=run, decision__in=[Approval.Decision.APPROVED, Approval.Decision.REJECTED]
        ).select_related("decided_by")
    }
    for item in state.get_interruptions():
        approval = decided.get(item.call_id or "")
        if approval is None:
            continue  # undecided: the SDK pauses on it again
        if approval.decision == Approval.Decision.APPROVED:
            state.approve(item, always_approve=approval.always)
        else:
            state.reject(item, rejection_message=rejection_message(approval))
    return state
