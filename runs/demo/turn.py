"""What the demo model sees of one model call: the request, its tools, what came back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Turn:
    """One call to the model: its input items, the agent's instructions, the tools offered.

    In a conversation the input is the earlier turns' history, then the latest request, then
    what this turn did so far; `request`, `outputs` and `number` are about the latest turn,
    `earlier_requests` and `earlier_outputs` about the ones before it."""

    input: str | list[Any]
    tool_names: set[str] = field(default_factory=set)
    instructions: str = ""
    output_schema: Any = None
    # Function tools' descriptions by name (a coordinator's lanes describe themselves here).
    tool_descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> dict[str, tuple[str, str]]:
        """This turn's function calls so far: call id -> (tool name, arguments)."""
        found = {}
        for item in self._split()[1]:
            get = item.get if isinstance(item, dict) else lambda k, o=item: getattr(o, k, None)
            if get("type") == "function_call":
                found[get("call_id")] = (get("name"), get("arguments") or "")
        return found

    @property
    def prompt(self) -> str:
        """Every user message of the input, in order (the request, and any follow-ups)."""
        return _user_text(self.input)

    def _split(self) -> tuple[list[Any], list[Any]]:
        """(the items before the latest user message, the items from it on)."""
        if isinstance(self.input, str):
            return [], [{"role": "user", "content": self.input}]
        last = max((i for i, item in enumerate(self.input) if _is_user(item)), default=0)
        return list(self.input[:last]), list(self.input[last:])

    @property
    def request(self) -> str:
        """The latest user message: what this turn is asked to do."""
        return _user_text(self._split()[1][:1])

    @property
    def earlier_requests(self) -> list[str]:
        """The requests of the earlier turns of the conversation, oldest first."""
        return [_user_text([item]) for item in self._split()[0] if _is_user(item)]

    @property
    def number(self) -> int:
        """Which turn of the conversation this is (1 for the first)."""
        return len(self.earlier_requests) + 1

    @property
    def outputs(self) -> dict[str, str]:
        """This turn's tool outputs so far, by call id."""
        return _outputs_by_call(self._split()[1])

    @property
    def earlier_outputs(self) -> list[dict[str, str]]:
        """The tool outputs of each earlier turn, by call id, oldest turn first."""
        turns: list[list[Any]] = []
        for item in self._split()[0]:
            if _is_user(item):
                turns.append([])
            elif turns:
                turns[-1].append(item)
        return [_outputs_by_call(items) for items in turns]


def command_output(tool_output: str) -> str:
    """The command's own output inside exec_command's formatted result."""
    marker = "\nOutput:\n"
    return tool_output.split(marker, 1)[1] if marker in tool_output else tool_output


def listed_files(listing: str) -> list[str]:
    return [line[2:] for line in command_output(listing).splitlines() if line.startswith("./")]


def _outputs_by_call(items: str | list[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(items, str):
        return found
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else getattr(item, "type", None)
        if kind in {"function_call_output", "custom_tool_call_output"}:
            call_id = item.get("call_id") if isinstance(item, dict) else item.call_id
            output = item.get("output") if isinstance(item, dict) else item.output
            found[call_id] = _output_text(output)
    return found


IMAGE_MARK = "[image]"


def _output_text(output: Any) -> str:
    """A tool output as text: a list of parts (text and images, e.g. a lane's screenshot) reads
    as its texts, each image as IMAGE_MARK (never its data URL)."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        parts = []
        for part in output:
            kind = part.get("type") if isinstance(part, dict) else getattr(part, "type", "")
            if kind in ("input_text", "output_text", "text"):
                parts.append(part.get("text", "") if isinstance(part, dict) else part.text)
            elif kind in ("input_image", "image"):
                parts.append(IMAGE_MARK)
        return "\n".join(parts)
    return json.dumps(output, default=str)


def _is_user(item: Any) -> bool:
    return isinstance(item, dict) and item.get("role") == "user"


def _user_text(items: str | list[Any]) -> str:
    if isinstance(items, str):
        return items
    texts = []
    for item in items:
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(part.get("text", "") for part in content if isinstance(part, dict))
    return "\n\n".join(texts)
