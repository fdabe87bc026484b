"""The offline demo model: a deterministic script, no LLM, clearly labelled as such.

It is a real `agents.models.interface.Model`: the SDK Runner drives it, its tool calls run on the
real sandbox through the real `exec_command` and `apply_patch` tools, and its answers are built
from what those tools returned. What it does is up to its scripts (runs/demo/scripts/): on the
Vite starter it rewrites `src/App.tsx` so the page shows the prompt; on any other workspace it
lists and reads files and reports what it found; without a sandbox (a coordinator) it answers
from its input alone.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from typing import Any

from agents.items import ModelResponse, TResponseOutputItem
from agents.models.interface import Model
from agents.usage import Usage

from .responses import stream_events_for
from .scripts import SCRIPTS
from .turn import Turn

DEMO_LABEL = "Offline demo (scripted, no LLM)"

_response_ids = itertools.count(1)
_DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+")
IMAGE_TOKENS = 85


def _turn(instructions, input, tools, output_schema) -> Turn:
    return Turn(
        input=input,
        tool_names={tool.name for tool in tools},
        instructions=instructions or "",
        output_schema=output_schema,
        tool_descriptions={tool.name: getattr(tool, "description", "") or "" for tool in tools},
    )


class DemoModel(Model):
    """Deterministic: the same prompt on the same workspace gives the same calls and answer."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay

    def plan(self, turn: Turn) -> list[TResponseOutputItem]:
        for script in SCRIPTS:
            if script.handles(turn):
                return script.plan(turn)
        raise ValueError("No demo script handles this turn.")

    @staticmethod
    def _usage(input: str | list[Any], output: Sequence[TResponseOutputItem]) -> Usage:
        # Demo "tokens": characters / 4, so the usage panel shows plausible, repeatable numbers.
        # An image counts as a low-detail image does for OpenAI's models (85), not its base64.
        text, images = _DATA_URL.subn("", json.dumps(input, default=str))
        consumed = len(text) // 4 + IMAGE_TOKENS * images
        produced = sum(len(item.model_dump_json()) for item in output) // 4
        return Usage(
            requests=1,
            input_tokens=consumed,
            output_tokens=produced,
            total_tokens=consumed + produced,
        )

    async def get_response(
        self,
        system_instructions,
        input,
        model_settings,
        tools,
        output_schema,
        handoffs,
        tracing,
        **kwargs,
    ) -> ModelResponse:
        output = self.plan(_turn(system_instructions, input, tools, output_schema))
        return ModelResponse(
            output=output,
            usage=self._usage(input, output),
            response_id=f"demo-{next(_response_ids)}",
        )

    async def stream_response(
        self,
        system_instructions,
        input,
        model_settings,
        tools,
        output_schema,
        handoffs,
        tracing,
        **kwargs,
    ):
        output = self.plan(_turn(system_instructions, input, tools, output_schema))
        async for event in stream_events_for(
            output,
            self._usage(input, output),
            response_id=f"demo-{next(_response_ids)}",
            delay=self.delay,
        ):
            yield event
