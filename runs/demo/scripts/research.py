"""As a researcher (an agent with MCP `search` and `fetch` tools, e.g. the built-in offline docs
server): search for the question, fetch the best results one by one, keep notes in notes.md
(when it has a shell), then answer with passages quoted from what it fetched, each with the
number of its source, and the list of those sources. It cites only documents it fetched.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from agents.items import TResponseOutputItem
from openai.types.responses import ResponseFunctionToolCall

from ...research.corpus import words
from ..responses import exec_call, message_item, reasoning_item
from ..turn import Turn

FETCH_COUNT = 3
LABEL = "(Offline demo model: a deterministic script, not an LLM. It quotes what it fetched.)"
RESULT = re.compile(r"(?m)^\s*\d+\.\s+\[(?P<id>[^\]]+)\]\s+(?P<title>.+?)\s+—\s+(?P<url>\S+)\s*$")


def handles(turn: Turn) -> bool:
    return {"search", "fetch"} <= turn.tool_names


@dataclass
class Source:
    id: str
    title: str
    url: str
    text: str = ""


class Calls:
    def __init__(self, turn: Turn) -> None:
        suffix = f"-{turn.number}" if turn.number > 1 else ""
        self.search = f"demo-search{suffix}"
        self.fetches = [f"demo-fetch-{i}{suffix}" for i in range(1, FETCH_COUNT + 1)]
        self.notes = f"demo-notes{suffix}"
        self.answer = f"demo-answer{suffix}"


def function_call(name: str, arguments: dict, call_id: str) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=call_id,
        call_id=call_id,
        type="function_call",
        name=name,
        arguments=json.dumps(arguments),
    )


def tool_text(output: str) -> str:
    """The text of a tool's output, unwrapped from the JSON an MCP result comes in."""
    try:
        value = json.loads(output)
    except (TypeError, ValueError):
        return output
    texts: list[str] = []

    def collect(item) -> None:
        if isinstance(item, dict):
            if isinstance(item.get("text"), str):
                texts.append(item["text"])
        elif isinstance(item, list):
            for part in item:
                collect(part)
        elif isinstance(item, str):
            texts.append(item)

    collect(value)
    return "\n".join(texts) if texts else output


def search_results(output: str) -> list[Source]:
    return [Source(id=m["id"], title=m["title"], url=m["url"]) for m in RESULT.finditer(output)]


def fetched(source: Source, output: str) -> Source | None:
    """The source with its text, if the fetch returned the document."""
    if not output.startswith("Title:"):
        return None
    header, _, text = output.partition("\n\n")
    url = re.search(r"(?m)^Source:\s*(\S+)", header)
    return Source(
        id=source.id, title=source.title, url=url[1] if url else source.url, text=text.strip()
    )


def _plain(paragraph: str) -> str:
    text = re.sub(r"\[([^\]]+)\](\([^)]+\)|\[[^\]]*\])", r"\1", paragraph)  # links: their words
    text = re.sub(r"[*_`]+", "", text)
    return " ".join(text.split())


def _paragraphs(text: str) -> list[str]:
    """A document's prose: paragraphs and list items, without code, tables, headings, notes."""
    body = re.sub(r"```.*?```", "", text, flags=re.S)
    found = []
    for block in re.split(r"\n\s*\n", body):
        if block.startswith(("#", "|", "!!!", "<", "    ", "\t")):
            continue
        items = (
            re.split(r"(?m)^[-*] ", block) if block.lstrip().startswith(("- ", "* ")) else [block]
        )
        # A list's introduction ("…, including:") says nothing on its own.
        found += [
            _plain(item)
            for item in items
            if len(item.strip()) >= 60 and not item.rstrip().endswith(":")
        ]
    return found


def passages(source: Source, question: str, count: int = 2) -> list[str]:
    """The passages of a fetched document that best match the question: its words, the rarer
    in the document the more each counts."""
    paragraphs = _paragraphs(source.text)
    vocab = [set(words(p)) for p in paragraphs]
    asked = set(words(question))
    spread = {w: sum(1 for v in vocab if w in v) for w in asked}
    scored = []
    for index, (paragraph, vocabulary) in enumerate(zip(paragraphs, vocab, strict=True)):
        matched = asked & vocabulary
        if matched:
            # Most of the question's words first; the rarer ones in this document break ties.
            scored.append((-len(matched), -sum(1 / spread[w] for w in matched), index, paragraph))
    chosen = sorted(scored)[:count]
    return [_clip(c[3]) for c in sorted(chosen, key=lambda c: c[2])]


def _clip(text: str, limit: int = 320) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("? "))
    return cut[: end + 1] if end > 80 else cut.rsplit(" ", 1)[0] + "…"


def notes_markdown(question: str, sources: list[Source]) -> str:
    lines = [f"## {question}", ""]
    for number, source in enumerate(sources, 1):
        lines.append(f"[{number}] {source.title} — {source.url}")
        lines += [f"- {passage}" for passage in passages(source, question)]
        lines.append("")
    return "\n".join(lines)


def answer(question: str, sources: list[Source], searched: list[Source]) -> str:
    if not searched:
        return (
            f"{LABEL}\n\nI searched the offline corpus for “{question}” and found nothing to "
            "cite. Try other words (the corpus holds the Agents SDK docs and this dashboard's "
            "README)."
        )
    findings = [
        f"- {passage} [{number}]"
        for number, source in enumerate(sources, 1)
        for passage in passages(source, question)
    ]
    lines = [LABEL, "", f"Question: {question}", ""]
    if findings:
        lines += [f"What the sources say ({len(sources)} documents fetched):", *findings]
    else:
        lines.append("The fetched documents do not say much about this; see them below.")
    lines += ["", "Sources (fetched with the MCP fetch tool):"]
    lines += [f"[{n}] {source.title} — {source.url}" for n, source in enumerate(sources, 1)]
    others = [s for s in searched if s.id not in {f.id for f in sources}]
    if others:
        lines += ["", "Also found, not read: " + "; ".join(s.title for s in others)]
    return "\n".join(lines)


def plan(turn: Turn) -> list[TResponseOutputItem]:
    calls, outputs, question = Calls(turn), turn.outputs, turn.request.strip()
    if calls.search not in outputs:
        return [
            reasoning_item(
                "Search the offline corpus for the question, then read the best results.",
                f"{calls.search}-why",
            ),
            function_call("search", {"query": question, "limit": 5}, calls.search),
        ]
    searched = search_results(tool_text(outputs[calls.search]))
    chosen = searched[:FETCH_COUNT]
    sources = []
    for source, call_id in zip(chosen, calls.fetches, strict=False):
        if call_id not in outputs:
            return [function_call("fetch", {"id": source.id, "max_chars": 40_000}, call_id)]
        if (document := fetched(source, tool_text(outputs[call_id]))) is not None:
            sources.append(document)
    if sources and "exec_command" in turn.tool_names and calls.notes not in outputs:
        notes = notes_markdown(question, sources)
        command = f"printf '%s\\n' {shlex.quote(notes)} >> notes.md && wc -l notes.md"
        return [exec_call(command, calls.notes)]
    return [message_item(answer(question, sources, searched), calls.answer)]
