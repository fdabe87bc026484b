"""An agent-led coordinator (its tools are lanes, `lane_*`): call every lane at once, then
answer from what they returned, in the shape of the declared output schema if there is one.

- Review lanes report findings as lines (runs/demo/scripts/review.py): the answer merges them,
  one row per file:line, naming every lane that found it, most severe first.
- Homepage directions report the page they built (runs/demo/scripts/workspace.py): the answer
  scores each against the brief and picks a winner, a shortlist and why.
- Any other schema is filled from the lanes' answers by its types.
- Without a schema, research lanes' answers (runs/demo/scripts/research.py: findings citing
  `[n]`, then a Sources list) merge into one answer: each lane's findings renumbered against
  one numbered Sources list, the union of what the lanes fetched. Other answers: a synthesis.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agents.items import TResponseOutputItem
from openai.types.responses import ResponseFunctionToolCall

from .. import landing
from ..responses import message_item, reasoning_item
from ..turn import IMAGE_MARK, Turn
from .review import FINDING, SEVERITY_ORDER
from .synthesis import synthesis

PREFIX = "lane_"
LANE_HEAD = re.compile(r"^Lane “(?P<label>[^”]+)” \(run #\d+\) (?P<status>\w+)", re.M)
BUILT = re.compile(
    r"I built a landing page for “(?P<brand>[^”]+)” in \S+: the (?P<layout>\w+) layout, "
    r"(?P<theme>\w+) theme"
)
HEADLINE = re.compile(r"Headline: “(?P<headline>[^”]+)”")
FEATURES = re.compile(r"Features: (?P<features>.+?)\. Sections: (?P<sections>[^.]+)\.")
LABEL = "(Offline demo coordinator: a deterministic script, not an LLM.)"
SOURCE = re.compile(r"(?m)^\[(?P<n>\d+)\] (?P<title>.+?) — (?P<url>\S+)\s*$")
CITATION = re.compile(r"\[(\d+)\]")


def handles(turn: Turn) -> bool:
    if "exec_command" in turn.tool_names:
        return False
    declared = turn.output_schema is not None and not turn.output_schema.is_plain_text()
    return declared or any(name.startswith(PREFIX) for name in turn.tool_names)


FIXED_SECTION = re.compile(r"(?m)^## Lane “(?P<label>[^”]+)”: (?P<status>\w+)\n")


def fixed_results(prompt: str) -> list[str]:
    """A fixed fan-out coordinator's lanes, from its prompt (runs/lanes.coordinator_prompt),
    in the form lane tools return them."""
    parts = FIXED_SECTION.split(prompt)[1:]
    return [
        f"Lane “{label}” (run #0) {status.lower()}.\n{body.strip()}"
        for label, status, body in zip(parts[::3], parts[1::3], parts[2::3], strict=True)
    ]


def lane_input(request: str, description: str) -> str:
    """What a lane is asked: the task in full (a lane sees nothing else), then its part."""
    return f"{request.strip()}\n\n{description.strip()}"


def plan(turn: Turn) -> list[TResponseOutputItem]:
    lanes = sorted(name for name in turn.tool_names if name.startswith(PREFIX))
    if not lanes:  # fixed fan-out: the lanes' outcomes are in the prompt
        answer = structured(
            turn.output_schema.json_schema(), turn.request, fixed_results(turn.request)
        )
        return [message_item(json.dumps(answer, ensure_ascii=False), "demo-coordinator-answer")]
    if not turn.calls:
        intent = (
            f"Offline demo coordinator: I have {len(lanes)} lane(s) as tools. I call them all "
            "at once, each with the task and its own part, then merge what they return."
        )
        calls = [
            ResponseFunctionToolCall(
                id=f"demo-lane-{i}",
                call_id=f"demo-lane-{i}",
                type="function_call",
                name=name,
                arguments=json.dumps(
                    {"input": lane_input(turn.request, turn.tool_descriptions.get(name, ""))}
                ),
            )
            for i, name in enumerate(lanes, 1)
        ]
        return [reasoning_item(intent, "demo-lanes-plan"), *calls]
    results = [turn.outputs.get(call, "") for call in turn.calls]
    schema = turn.output_schema
    if schema is not None and not schema.is_plain_text():
        answer = structured(schema.json_schema(), turn.request, results)
        return [message_item(json.dumps(answer, ensure_ascii=False), "demo-coordinator-answer")]
    if any(SOURCE.search(r) for r in results):
        return [message_item(research(turn.request, results), "demo-coordinator-answer")]
    text = "\n\n".join(f"## {_label(r)}\n{r}" for r in results)
    return [message_item(synthesis(f"{turn.request}\n\n{text}"), "demo-coordinator-answer")]


def research(request: str, results: list[str]) -> str:
    """One answer from research lanes: each lane's cited findings, renumbered against one
    Sources list that is the union (by URL, first seen first) of the lanes' Sources lists."""
    union: dict[str, tuple[int, str]] = {}  # url -> (number, title)
    sections, silent = [], []
    for result in results:
        if _status(result) != "succeeded":
            silent.append(_label(result))
            continue
        local: dict[str, int] = {}
        for match in SOURCE.finditer(result):
            number, _ = union.setdefault(match["url"], (len(union) + 1, match["title"]))
            local[match["n"]] = number
        findings = [
            CITATION.sub(lambda m, n=local: f"[{n[m[1]]}]" if m[1] in n else m[0], line)
            for line in result.splitlines()
            if line.startswith("- ") and CITATION.search(line)
        ]
        body = findings or ["- Fetched sources but quoted nothing from them; see the list."]
        sections.append(f"## {_label(result)}\n" + "\n".join(body))
    lines = [
        LABEL,
        "",
        f"Question: {request.strip()}",
        f"{len(results)} research lane(s), {len(union)} source(s) fetched between them.",
        "",
        *("\n\n".join(sections).splitlines()),
    ]
    if silent:
        lines += ["", f"Lanes that did not report: {', '.join(silent)}."]
    lines += ["", "Sources (fetched by the research lanes with the MCP fetch tool):"]
    lines += [f"[{n}] {title} — {url}" for url, (n, title) in union.items()]
    return "\n".join(lines)


def _label(result: str) -> str:
    match = LANE_HEAD.search(result)
    return match["label"] if match else "Lane"


def _status(result: str) -> str:
    match = LANE_HEAD.search(result)
    return match["status"] if match else "unknown"


# --- structured answers -----------------------------------------------------------------------


def structured(schema: dict[str, Any], request: str, results: list[str]) -> Any:
    properties = schema.get("properties") or {}
    if "findings" in properties:
        return _review(schema, results)
    if "winner" in properties:
        return _selection(schema, request, results)
    return fill(schema, _summary(results), len(results))


def _review(schema: dict[str, Any], results: list[str]) -> dict[str, Any]:
    merged: dict[tuple[str, int, str], dict[str, Any]] = {}
    for result in results:
        lane = _label(result)
        for match in FINDING.finditer(result):
            key = (match["file"], int(match["line"]), match["finding"])
            if key in merged:
                merged[key]["lanes"].append(lane)
                continue
            merged[key] = {
                "lanes": [lane],
                "severity": match["severity"],
                "file": match["file"],
                "line": int(match["line"]),
                "finding": match["finding"],
                "fix": match["fix"],
            }
    rows = sorted(
        merged.values(), key=lambda f: (SEVERITY_ORDER[f["severity"]], f["file"], f["line"])
    )
    item_schema = (schema["properties"]["findings"].get("items") or {}).get("properties") or {}
    findings = []
    for row in rows:
        full = {**row, "lane": ", ".join(row.pop("lanes"))}
        findings.append({k: v for k, v in full.items() if not item_schema or k in item_schema})
    failed = [_label(r) for r in results if _status(r) != "succeeded"]
    counts = {s: sum(1 for f in rows if f["severity"] == s) for s in SEVERITY_ORDER}
    summary = (
        f"{len(rows)} distinct finding(s) from {len(results)} lane(s): {counts['high']} high, "
        f"{counts['medium']} medium, {counts['low']} low."
    )
    observed = [f for f in rows if "runtime" in f["finding"].lower()]
    if observed:
        summary += f" {len(observed)} of them observed on the running app."
    if seen := [_label(r) for r in results if IMAGE_MARK in r]:
        summary += f" Screenshot of the running app from: {', '.join(seen)}."
    if failed:
        summary += f" Lanes that did not report: {', '.join(failed)}."
    answer = {"summary": f"{summary} {LABEL}", "findings": findings}
    return {k: v for k, v in answer.items() if k in schema["properties"]}


def _direction(result: str, brief_words: set[str], brief: str) -> dict[str, Any] | None:
    built = BUILT.search(result)
    if _status(result) != "succeeded" or built is None:
        return None
    headline = (HEADLINE.search(result) or {"headline": ""})["headline"]
    features = FEATURES.search(result)
    sections = [s.strip() for s in features["sections"].split(",")] if features else []
    shown = set(re.findall(r"[a-z]+", f"{headline} {features[0] if features else ''}".lower()))
    relevant = sorted(brief_words & shown)
    fits = built["layout"] == landing.choose_layout(brief)
    score = min(10, 4 + min(len(relevant), 3) + len(sections) // 2 + (2 if fits else 0))
    why = (
        f"{built['layout'].capitalize()} layout, {built['theme']} theme; headline "
        f"“{headline}”; {len(sections)} sections ({', '.join(sections)})"
        + (f"; uses the brief's words {', '.join(relevant[:4])}" if relevant else "")
        + ("; the layout the brief's tone asks for" if fits else "")
        + ("; judged from its screenshot too" if IMAGE_MARK in result else "")
        + "."
    )
    return {"direction": _label(result), "score": score, "why": why, "layout": built["layout"]}


def _selection(schema: dict[str, Any], request: str, results: list[str]) -> dict[str, Any]:
    brief_words = {
        w for w in re.findall(r"[a-z]+", request.lower()) if len(w) > 3
    } - landing.PAGE_WORDS
    directions = [d for r in results if (d := _direction(r, brief_words, request))]
    directions.sort(key=lambda d: -d["score"])
    failed = [_label(r) for r in results if _status(r) != "succeeded"]
    if not directions:
        return {
            "winner": "none",
            "shortlist": [],
            "recommendation": f"No direction finished ({', '.join(failed)}). {LABEL}",
        }
    winner = directions[0]
    item_schema = (schema["properties"]["shortlist"].get("items") or {}).get("properties") or {}
    shortlist = [
        {k: v for k, v in d.items() if not item_schema or k in item_schema} for d in directions
    ]
    runner_up = f" {directions[1]['direction']} is a close second." if len(directions) > 1 else ""
    recommendation = (
        f"Ship {winner['direction']}: {winner['why']}{runner_up}"
        + (f" Did not finish: {', '.join(failed)}." if failed else "")
        + f" {LABEL}"
    )
    return {"winner": winner["direction"], "shortlist": shortlist, "recommendation": recommendation}


def _summary(results: list[str]) -> str:
    return " / ".join(f"{_label(r)}: {_status(r)}" for r in results) + f" {LABEL}"


def fill(schema: dict[str, Any], text: str, count: int) -> Any:
    """A value of `schema`'s shape from the lanes' answers (any schema a user declares)."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: fill(sub, text, count) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items") or {"type": "string"}
        size = max(schema.get("minItems", 0), min(count, schema.get("maxItems", count)))
        return [fill(items, text, count) for _ in range(size)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", max(low, count))
        return max(low, min(count, high))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    limit = schema.get("maxLength")
    return text[:limit] if limit else text
