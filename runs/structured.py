"""Structured results: an agent's final output declared by a JSON schema, validated, stored.

The schema reaches the SDK as the agent's `output_type` (an `AgentOutputSchemaBase`), so a real
model is asked for JSON in that shape and the SDK checks what comes back with `validate_json`;
an output that does not match fails the run with the exact reason.
"""

from __future__ import annotations

import json
from typing import Any

from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

# The presets' schemas: what the dashboard renders as a findings table and as selection cards.
REVIEW_FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "lane": {"type": "string"},
                    "severity": {"type": "string", "enum": ["high", "medium", "low"]},
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "finding": {"type": "string"},
                    "fix": {"type": "string"},
                },
                "required": ["lane", "severity", "file", "line", "finding", "fix"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["summary", "findings"],
    "additionalProperties": False,
}
HOMEPAGE_SELECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "winner": {"type": "string"},
        "shortlist": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "direction": {"type": "string"},
                    "score": {"type": "integer", "minimum": 0, "maximum": 10},
                    "why": {"type": "string"},
                },
                "required": ["direction", "score", "why"],
                "additionalProperties": False,
            },
        },
        "recommendation": {"type": "string"},
    },
    "required": ["winner", "shortlist", "recommendation"],
    "additionalProperties": False,
}


class OutputSchemaInvalid(ValueError):
    pass


def output_schema_check(schema: Any) -> dict[str, Any]:
    """The schema if an agent can declare it, else OutputSchemaInvalid saying why."""
    if not isinstance(schema, dict):
        raise OutputSchemaInvalid('An output schema is a JSON object, e.g. {"type": "object"}.')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.path) or "the top level"
        raise OutputSchemaInvalid(f"Not a valid JSON schema at {where}: {error.message}") from None
    if schema.get("type") != "object":
        raise OutputSchemaInvalid(
            'The output schema must describe an object (its top level needs "type": "object"): '
            "models return structured output as a JSON object."
        )
    return schema


def output_schema_parse(text: str) -> dict[str, Any] | None:
    """A schema typed on a form: empty means none."""
    if not text.strip():
        return None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputSchemaInvalid(
            f"The output schema is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg})."
        ) from None
    return output_schema_check(schema)


def output_problems(schema: dict[str, Any], value: Any) -> list[str]:
    """Why `value` does not match `schema` (empty: it matches), each with where."""
    problems = []
    for error in sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path):
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        )
        problems.append(f"at ${where}: {error.message}")
    return problems


class JsonSchemaOutput(AgentOutputSchemaBase):
    """A user's JSON schema as the SDK's output type."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = output_schema_check(schema)

    def is_plain_text(self) -> bool:
        return False

    def name(self) -> str:
        return "structured_result"

    def json_schema(self) -> dict[str, Any]:
        return self.schema

    def is_strict_json_schema(self) -> bool:
        # A user's schema need not follow OpenAI's strict subset; we validate it ourselves.
        return False

    def validate_json(self, json_str: str) -> Any:
        try:
            value = json.loads(json_str)
        except json.JSONDecodeError as error:
            raise ModelBehaviorError(
                f"The final output is not JSON ({error.msg}), but the agent declared an output "
                "schema."
            ) from None
        if problems := output_problems(self.schema, value):
            shown = "; ".join(problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise ModelBehaviorError(
                f"The final output does not match the output schema: {shown}{more}."
            )
        return value


def result_kind(value: Any) -> str:
    """How the dashboard shows a structured result: "findings", "selection" or "data"."""
    if isinstance(value, dict):
        if isinstance(value.get("findings"), list):
            return "findings"
        if "winner" in value and isinstance(value.get("shortlist"), list):
            return "selection"
    return "data"
