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

CAPABILITIES = {"shell": Shell, "filesystem": Filesystem}
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


def build_agent(
    config: dict[str, Any], *, sandbox: bool = True, mcp_servers: list | None = None
) -> Agent:
    """A SandboxAgent for runs in a sandbox; a plain Agent for one without (a coordinator)."""
    common = {
        "name": config.get("name") or "Agent",
        "instructions": build_instructions(config),
        "model": resolve_model(config.get("model") or DEMO_MODEL),
        "model_settings": build_model_settings(config),
        "mcp_servers": list(mcp_servers or []),
    }
    if not sandbox:
        return Agent(**common)
    capabilities = [CAPABILITIES[c]() for c in config.get("capabilities", []) if c in CAPABILITIES]
    return SandboxAgent(capabilities=capabilities, **common)
