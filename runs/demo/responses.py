"""A stand-in for a Responses API model's output: items and the stream events it would send.

Used by the offline demo model and by tests that script a streamed step by hand (a streamed
`apply_patch` custom tool call, which `agents.testing.ScriptedModel` cannot build by itself).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents.items import TResponseOutputItem
from agents.usage import Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseCustomToolCall,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
    ResponseUsage,
)
from openai.types.responses.response_reasoning_item import Summary
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails


def message_item(text: str, item_id: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=item_id,
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(text=text, type="output_text", annotations=[], logprobs=[])],
    )


def reasoning_item(text: str, item_id: str) -> ResponseReasoningItem:
    return ResponseReasoningItem(
        id=item_id, type="reasoning", summary=[Summary(text=text, type="summary_text")]
    )


def exec_call(command: str, call_id: str) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=call_id,
        call_id=call_id,
        type="function_call",
        name="exec_command",
        arguments=json.dumps({"cmd": command}),
    )


def patch_call(patch: str, call_id: str) -> ResponseCustomToolCall:
    return ResponseCustomToolCall(
        id=call_id, call_id=call_id, type="custom_tool_call", name="apply_patch", input=patch
    )


def _chunks(text: str, size: int = 12) -> list[str]:
    words = re.findall(r"\S+\s*|\s+", text)
    chunks, current = [], ""
    for word in words:
        current += word
        if len(current) >= size:
            chunks.append(current)
            current = ""
    if current:
        chunks.append(current)
    return chunks


def response_usage(usage: Usage) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
    )


async def stream_events_for(
    output: Sequence[TResponseOutputItem],
    usage: Usage,
    *,
    response_id: str,
    delay: float = 0.0,
) -> AsyncIterator[Any]:
    """The Responses stream for `output`: created, items with text deltas, completed."""
    seq = itertools.count()
    response = Response(
        id=response_id,
        created_at=0,
        model="demo",
        object="response",
        output=[],
        parallel_tool_calls=False,
        tool_choice="auto",
        tools=[],
        status="in_progress",
    )
    yield ResponseCreatedEvent(
        type="response.created", response=response, sequence_number=next(seq)
    )
    for index, item in enumerate(output):
        if isinstance(item, ResponseOutputMessage):
            empty = item.model_copy(update={"content": [], "status": "in_progress"})
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=empty,
                output_index=index,
                sequence_number=next(seq),
            )
            part = ResponseOutputText(text="", type="output_text", annotations=[], logprobs=[])
            yield ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=item.id,
                output_index=index,
                content_index=0,
                part=part,
                sequence_number=next(seq),
            )
            for chunk in _chunks(item.content[0].text):
                if delay:
                    await asyncio.sleep(delay)
                yield ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    item_id=item.id,
                    output_index=index,
                    content_index=0,
                    delta=chunk,
                    logprobs=[],
                    sequence_number=next(seq),
                )
            yield ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=item.id,
                output_index=index,
                content_index=0,
                part=item.content[0],
                sequence_number=next(seq),
            )
        elif isinstance(item, ResponseReasoningItem):
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item.model_copy(update={"summary": []}),
                output_index=index,
                sequence_number=next(seq),
            )
            for chunk in _chunks(item.summary[0].text):
                if delay:
                    await asyncio.sleep(delay)
                yield ResponseReasoningSummaryTextDeltaEvent(
                    type="response.reasoning_summary_text.delta",
                    item_id=item.id or "",
                    output_index=index,
                    summary_index=0,
                    delta=chunk,
                    sequence_number=next(seq),
                )
        else:
            if delay:
                await asyncio.sleep(delay * 3)
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item,
                output_index=index,
                sequence_number=next(seq),
            )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=item,
            output_index=index,
            sequence_number=next(seq),
        )
    completed = response.model_copy(
        update={"output": list(output), "status": "completed", "usage": response_usage(usage)}
    )
    yield ResponseCompletedEvent(
        type="response.completed", response=completed, sequence_number=next(seq)
    )
