"""Build the SDK agent a run describes. The SDK does the work; this only maps our fields."""

from __future__ import annotations

from typing import Any

from agents import Agent, ModelSettings
from agents.models.interface import Model
from agents.sandbox import SandboxAgent
from agents.sandbox.capabilities import Filesystem, Shell
from django.conf import settings

from .demo import DEMO_LABEL, DemoModel
from .models import DEMO_MODEL
from .structured import JsonSchemaOutput

REAL_MODELS = ["gpt-5.4", "gpt-5.4-mini"]

# Tests put scripted models here (agents.testing.ScriptedModel) under a name of their choosing.
MODEL_OVERRIDES: dict[str, Model] = {}


def model_choices() -> list[tuple[str, str]]:
    choices = [(DEMO_MODEL, DEMO_LABEL)]
    if settings.OPENAI_API_KEY_SET:
        choices = [(name, name) for name in REAL_MODELS] + choices
    return choices


def default_model() -> str:
    return model_choices()[0][0]


def resolve_model(name: str) -> Model | str:
    if name in MODEL_OVERRIDES:
        return MODEL_OVERRIDES[name]
    if name == DEMO_MODEL:
        return DemoModel(delay=settings.DEMO_MODEL_DELAY)
    if not settings.OPENAI_API_KEY_SET:
        raise ValueError(
            f"Model {name!r} needs OPENAI_API_KEY on the server; choose the offline demo model."
        )
    return name


def build_instructions(config: dict[str, Any]) -> str | None:
    # SandboxAgent has no developer_instructions field: carry them in the instructions.
    parts = [config.get("instructions", "").strip()]
    if developer := config.get("developer_instructions", "").strip():
        parts.append(f"Developer instructions:\n{developer}")
    text = "\n\n".join(p for p in parts if p)
    return text or None


def build_model_settings(config: dict[str, Any]) -> ModelSettings:
    options = dict(config.get("model_settings") or {})
    if config.get("tool_choice") and config["tool_choice"] != "auto":
        options["tool_choice"] = config["tool_choice"]
    return ModelSettings(**options)


async def _typing_needs_approval(_context, params: dict, _call_id: str) -> bool:
    # Typing into a running shell is a command too (without this it bypasses the gate);
    # an empty write only polls a command's output.
    return bool(params.get("chars"))


def _shell_asks_first(tools) -> None:
    tools.exec_command.needs_approval = True
    if tools.write_stdin is not None:
        tools.write_stdin.needs_approval = _typing_needs_approval


def _patches_ask_first(tools) -> None:
    tools.apply_patch.needs_approval = True


def build_capabilities(config: dict[str, Any]) -> list:
    """The sandbox capabilities a config names, their tools gated by its "ask before" kinds
    (the SDK's own approvals: `needs_approval`, set through each capability's configure_tools)."""
    approvals = set(config.get("approvals") or ())
    capabilities = []
    for name in config.get("capabilities", []):
        if name == "shell":
            capabilities.append(
                Shell(configure_tools=_shell_asks_first if "shell" in approvals else None)
            )
        elif name == "filesystem":
            capabilities.append(
                Filesystem(configure_tools=_patches_ask_first if "patch" in approvals else None)
            )
    return capabilities


def build_agent(
    config: dict[str, Any],
    *,
    sandbox: bool = True,
    mcp_servers: list | None = None,
    tools: list | None = None,
) -> Agent:
    """A SandboxAgent for runs in a sandbox; a plain Agent for one without (a coordinator).

    `tools`: function tools beside the capabilities' (an agent-led coordinator's lanes). The
    same config always builds the same agent (name, tools, servers in order): a paused run's
    RunState is restored onto it."""
    common = {
        "name": config.get("name") or "Agent",
        "instructions": build_instructions(config),
        "model": resolve_model(config.get("model") or DEMO_MODEL),
        "model_settings": build_model_settings(config),
        "mcp_servers": list(mcp_servers or []),
        "tools": list(tools or []),
    }
    if schema := config.get("output_schema"):
        common["output_type"] = JsonSchemaOutput(schema)
    if not sandbox:
        return Agent(**common)
    return SandboxAgent(capabilities=build_capabilities(config), **common)
