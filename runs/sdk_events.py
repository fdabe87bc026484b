"""Turn the SDK's stream events into the dashboard's event kinds.

Kinds: agent, message_start, text_delta, message, reasoning_start, reasoning_delta, reasoning,
tool_call, tool_output, response (one model response: its timing and usage; the executor adds
its cost and folds the usage into the run's).

Timings for the timeline (runs/timeline.py): a response carries `started_at`/`ended_at` (when
the model began and finished answering); a tool output carries its call's `started_at` and its
own `ended_at`. Times are ISO 8601, UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from agents import ItemHelpers
from agents.stream_events import AgentUpdatedStreamEvent, RawResponsesStreamEvent
from django.conf import settings
from django.utils import timezone

from .images import images_in_output


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _clip(text: str) -> tuple[str, bool]:
    limit = settings.EVENT_OUTPUT_LIMIT
    if len(text) <= limit:
        return text, False
    return text[:limit], True


class StreamNormaliser:
    def __init__(self, tool_servers: dict[str, str] | None = None) -> None:
        self.tool_servers = tool_servers or {}  # MCP tool name -> server name
        self._open_messages: set[str] = set()
        self._open_reasoning: set[str] = set()
        self._response_started: str | None = None
        self._response_ended: datetime | None = None
        self._call_started: dict[str, datetime] = {}

    def feed(self, event: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(event, RawResponsesStreamEvent):
            yield from self._raw(event.data)
        elif isinstance(event, AgentUpdatedStreamEvent):
            yield "agent", {"name": event.new_agent.name}
        else:
            yield from self._item(event.name, event.item)

    def _raw(self, data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        kind = getattr(data, "type", "")
        if kind == "response.output_text.delta":
            yield from self._start(self._open_messages, "message_start", data.item_id)
            yield "text_delta", {"item": data.item_id, "delta": data.delta}
        elif kind == "response.reasoning_summary_text.delta":
            yield from self._start(self._open_reasoning, "reasoning_start", data.item_id)
            yield "reasoning_delta", {"item": data.item_id, "delta": data.delta}
        elif kind == "response.created":
            self._response_started = _now()
        elif kind == "response.completed":
            self._response_ended = timezone.now()
            ended = self._response_ended.isoformat()
            payload: dict[str, Any] = {
                "response": _get(data.response, "id", "") or "",
                "model": _get(data.response, "model", "") or "",
                "started_at": self._response_started or ended,
                "ended_at": ended,
            }
            self._response_started = None
            payload.update(response_usage(data.response.usage))
            yield "response", payload

    @staticmethod
    def _start(opened: set[str], kind: str, item_id: str) -> Iterator[tuple[str, dict]]:
        if item_id not in opened:
            opened.add(item_id)
            yield kind, {"item": item_id}

    def _item(self, name: str, item: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        raw = getattr(item, "raw_item", None)
        if name == "message_output_created":
            item_id = _get(raw, "id") or f"msg-{id(raw)}"
            yield from self._start(self._open_messages, "message_start", item_id)
            yield "message", {"item": item_id, "text": ItemHelpers.text_message_output(item)}
        elif name == "reasoning_item_created":
            item_id = _get(raw, "id") or f"rs-{id(raw)}"
            summary = "\n\n".join(_get(part, "text", "") for part in _get(raw, "summary") or [])
            if summary:
                yield from self._start(self._open_reasoning, "reasoning_start", item_id)
                yield "reasoning", {"item": item_id, "text": summary}
        elif name == "tool_called":
            payload = self._tool_call(raw)
            if server := self.tool_servers.get(payload["tool"]):
                payload["server"] = server
            self._call_started[payload["call"]] = timezone.now()
            yield "tool_call", payload
        elif name == "tool_output":
            payload = {"call": _get(raw, "call_id") or _get(raw, "id") or ""}
            if (found := images_in_output(item.output)) is not None:
                # Stored as files by the event log (runs.images); the event gets their ids.
                output, payload["_images"] = found
            elif (text := _text_parts(item.output)) is not None:
                output = text  # an MCP tool's text content, shown as text
            else:
                output = item.output if isinstance(item.output, str) else _jsonish(item.output)
            payload.update(_shell_result(output))
            payload["output"], payload["truncated"] = _clip(payload["output"])
            ended = timezone.now()
            started = self._call_started.pop(payload["call"], ended)
            if "wall_time" in payload:
                # The command's own clock: it ran that long before we saw its output (but not
                # before the response that asked for it ended).
                by_wall = ended - timedelta(seconds=payload["wall_time"])
                started = max(min(started, by_wall), self._response_ended or by_wall)
            payload["started_at"], payload["ended_at"] = started.isoformat(), ended.isoformat()
            yield "tool_output", payload
        elif name in {"handoff_requested", "handoff_occured"}:
            yield "note", {"text": name.replace("_", " ")}

    @staticmethod
    def _tool_call(raw: Any) -> dict[str, Any]:
        call_type = _get(raw, "type", "")
        tool = _get(raw, "name") or call_type or "tool"
        payload: dict[str, Any] = {
            "call": _get(raw, "call_id") or _get(raw, "id") or "",
            "tool": tool,
        }
        if call_type == "custom_tool_call":
            payload["input"] = _get(raw, "input", "")
        elif call_type == "function_call":
            arguments = _get(raw, "arguments", "") or ""
            payload["arguments"] = arguments
            if tool == "exec_command":
                try:
                    payload["command"] = json.loads(arguments).get("cmd", "")
                except (ValueError, AttributeError):
                    pass
        elif call_type == "mcp_call":
            payload["server"] = _get(raw, "server_label", "")
            payload["arguments"] = _get(raw, "arguments", "")
        else:
            payload["arguments"] = _jsonish(raw)
        return payload


def _now() -> str:
    return timezone.now().isoformat()


def response_usage(usage: Any) -> dict[str, int]:
    """One response's usage as the dashboard counts it (cached and reasoning tokens are parts of
    the input and output counts, not additions to them)."""
    if usage is None:
        return {
            "requests": 1,
            "input_tokens": 0,
            "cached_input_tokens": 0,
            "output_tokens": 0,
            "reasoning_tokens": 0,
            "total_tokens": 0,
        }
    return {
        "requests": 1,
        "input_tokens": usage.input_tokens or 0,
        "cached_input_tokens": _get(_get(usage, "input_tokens_details"), "cached_tokens", 0) or 0,
        "output_tokens": usage.output_tokens or 0,
        "reasoning_tokens": _get(_get(usage, "output_tokens_details"), "reasoning_tokens", 0) or 0,
        "total_tokens": usage.total_tokens or 0,
    }


_SHELL_RESULT = re.compile(
    r"\AChunk ID: \w+\nWall time: (?P<wall>[\d.]+) seconds\n"
    r"(?:Process exited with code (?P<code>-?\d+)\n)?"
    r"(?:Process running with session ID (?P<pid>\d+)\n)?"
    r"(?:Original token count: \d+\n)?Output:\n"
)


def _shell_result(output: str) -> dict[str, Any]:
    """Split exec_command's result into its exit code, wall time and the command's output."""
    match = _SHELL_RESULT.match(output)
    if match is None:
        return {"output": output}
    result: dict[str, Any] = {
        "output": output[match.end() :],
        "wall_time": float(match["wall"]),
    }
    if match["code"] is not None:
        result["exit_code"] = int(match["code"])
    if match["pid"] is not None:
        result["still_running"] = True
    return result


def _text_parts(output: Any) -> str | None:
    """The text of an output made only of text parts ({"type": "text", "text": ...})."""
    parts = output if isinstance(output, list) else [output]
    if not parts or not all(
        _get(part, "type") == "text" and isinstance(_get(part, "text"), str) for part in parts
    ):
        return None
    return "\n".join(_get(part, "text") for part in parts)


def _jsonish(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    try:
        return json.dumps(value, default=str, indent=2)
    except TypeError:
        return str(value)
