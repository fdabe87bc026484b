"""Run events as HTML, from one set of builders for both ways a page gets them.

* `event_fragment(...)`: one event as the live fragment the websocket sends, whose
  hx-swap-oob targets append a step to the log or replace a part of one (runstream.js).
* `log_html(...)`: a whole stored log folded into the log those fragments would have built, so
  a run page arrives with its steps already there (runs/selectors.run_log) and the websocket
  resumes after the last one.

Plain string building, not templates: a template costs 30-100 µs an event, seconds for a run
of 50,000 events (bench/runpage.py). Approvals and the state card are rare and keep their
templates (_approval_*.html, _state.html).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from html import escape
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.text import slugify

from lib.diffs import classify_lines

from .formatting import dollars, response_seconds, seconds

# Kinds that append a step (<li>) to the log; the rest change a step already there.
STEP_KINDS = {
    "agent",
    "message_start",
    "reasoning_start",
    "tool_call",
    "mcp_tools",
    "lane_call",
    "response",
    "note",
}


def dom_id(run_id: Any, item_id: Any) -> str:
    """A stable, valid DOM id for an SDK item or call id within one run's page."""
    digest = hashlib.sha1(str(item_id).encode()).hexdigest()[:12]
    return f"r{run_id}-i{digest}"


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


@functools.cache
def _slug(value: Any) -> str:
    # A handful of tool names; slugify costs ~20 µs a call.
    return slugify(str(value or ""))


# --- the parts of a step -------------------------------------------------------------------


def _text_div(element_id: str, inner: str, *, oob: bool = False) -> str:
    swap = ' hx-swap-oob="true"' if oob else ""
    return f'<div class="text" id="{element_id}"{swap}>{inner}</div>'


def _output_body(text: str) -> str:
    """A command's output; a long one shows its first and last lines, the rest on a click."""
    lines = text.split("\n")
    head, tail = settings.RUN_LOG_OUTPUT_HEAD_LINES, settings.RUN_LOG_OUTPUT_TAIL_LINES
    hidden = len(lines) - head - tail
    if hidden < settings.RUN_LOG_OUTPUT_COLLAPSE_MIN_LINES:
        return f'<pre class="out">{escape(text)}</pre>'
    first = escape("\n".join(lines[:head]))
    middle = escape("\n".join(lines[head:-tail]))
    last = escape("\n".join(lines[-tail:]))
    return (
        f'<div class="out collapsed"><pre class="out-part">{first}</pre>'
        f'<details class="out-more"><summary data-testid="out-more">{hidden} more lines'
        f'</summary><pre class="out-part">{middle}</pre></details>'
        f'<pre class="out-part">{last}</pre></div>'
    )


def _output(run_id: int, payload: dict, *, oob: bool = False) -> str:
    meta = ""
    if payload.get("exit_code") is not None or payload.get("still_running"):
        if payload.get("still_running"):
            exit_html = '<span class="exit">still running</span>'
        elif payload.get("exit_code") == 0:
            exit_html = '<span class="exit ok">exit 0</span>'
        else:
            exit_html = f'<span class="exit bad">exit {_text(payload.get("exit_code"))}</span>'
        wall = payload.get("wall_time")
        seconds = f"{float(wall):.2f}" if isinstance(wall, int | float) else ""
        meta = f'<div class="out-meta">{exit_html} <span class="muted">{seconds} s</span></div>'
    images = payload.get("images") or []
    body = "".join(_image(image) for image in images)
    if payload.get("output") or not images:
        text = payload.get("output") or "(no output)"
        if payload.get("truncated"):
            text += "\n… (output truncated)"
        body += _output_body(text)
    return _out_wrap(run_id, payload.get("call"), meta + body, oob=oob)


def _image(image: dict) -> str:
    """An image a tool returned (stored by runs/images.py), or why it is not shown."""
    if not image.get("id"):
        return f'<p class="muted small">Image not shown: {_text(image.get("omitted"))}</p>'
    url = reverse("run_image", args=[image["id"]])
    return (
        f'<a href="{url}" target="_blank" rel="noopener"><img class="tool-image" src="{url}" '
        f'alt="Image returned by the tool ({_text(image.get("type"))})" loading="lazy" '
        'data-testid="tool-image"></a>'
    )


def _out_wrap(run_id: int, call: Any, inner: str, *, oob: bool = False) -> str:
    swap = ' hx-swap-oob="true"' if oob else ""
    return f'<div class="out-wrap" id="{dom_id(run_id, call)}-out"{swap}>{inner}</div>'


def _pending(run_id: int, call: Any, text: str, *, oob: bool = False) -> str:
    return _out_wrap(run_id, call, f'<pre class="out pending">{text}</pre>', oob=oob)


def _approval(
    run_id: int, event_kind: str, payload: dict, *, oob: bool, readonly: bool = False
) -> str:
    name = "pending" if event_kind == "approval_requested" else "decided"
    return render_to_string(
        f"runs/_approval_{name}.html",
        {"payload": payload, "run_id": run_id, "standalone": not oob, "readonly": readonly},
    )


def _approval_output(run_id: int, event_kind: str, payload: dict, *, oob: bool) -> str:
    call = payload.get("call")
    if event_kind == "approval_requested":
        return _pending(run_id, call, "not run: waiting for a decision", oob=oob)
    decision = payload.get("decision")
    if decision == "approved":
        return _pending(run_id, call, "approved: runs when the agent continues…", oob=oob)
    if decision in ("expired", "cancelled"):
        return _pending(run_id, call, "never ran", oob=oob)
    return ""


class _Slot:
    """A part of a step that later events replace whole (an output, an approval)."""

    __slots__ = ("html",)

    def __init__(self, html: str) -> None:
        self.html = html

    def __str__(self) -> str:
        return self.html


class _TextSlot:
    """A message's text, which deltas extend and the finished message replaces."""

    __slots__ = ("chunks", "element_id")

    def __init__(self, element_id: str) -> None:
        self.element_id = element_id
        self.chunks: list[str] = []

    def __str__(self) -> str:
        return _text_div(self.element_id, "".join(self.chunks))


def _li(run_id: int, seq: int, classes: str, attributes: str = "") -> str:
    """A step's opening tag: its id is the anchor the run's timeline links to."""
    more = f" {attributes}" if attributes else ""
    return f'<li class="ev {classes}" id="run-{run_id}-ev-{seq}" data-seq="{seq}"{more}>'


def _step(run_id: int, seq: int, kind: str, payload: dict) -> list[Any]:
    """The <li> a step-starting event appends, as parts; slots are what later events change."""
    if kind == "agent":
        li = _li(run_id, seq, "ev-agent")
        return [f"{li}Agent <strong>{_text(payload.get('name'))}</strong> started</li>"]
    if kind in ("message_start", "reasoning_start"):
        cls, label = ("message", "Assistant")
        if kind == "reasoning_start":
            cls, label = ("reasoning", "Reasoning")
        return [
            f'{_li(run_id, seq, "ev-" + cls)}<span class="ev-label">{label}</span>',
            _TextSlot(dom_id(run_id, payload.get("item"))),
            "</li>",
        ]
    if kind == "tool_call":
        tool = payload.get("tool")
        if payload.get("command") is not None:
            head = (
                '<span class="ev-label">Shell</span><pre class="cmd">'
                f'<span class="prompt-sign">$</span> {_text(payload["command"])}</pre>'
            )
        elif tool == "apply_patch":
            lines = "".join(
                f'<span class="{cls}">{escape(line)}</span>'
                for cls, line in classify_lines(payload.get("input") or "")
            )
            head = f'<span class="ev-label">Patch</span><pre class="diff">{lines}</pre>'
        else:
            server = payload.get("server")
            where = f"MCP · {_text(server)} · " if server else "Tool · "
            head = (
                f'<span class="ev-label">{where}{_text(tool)}</span>'
                f'<pre class="args">{_text(payload.get("arguments"))}</pre>'
            )
        call = dom_id(run_id, payload.get("call"))
        return [
            _li(run_id, seq, "ev-tool ev-" + _slug(tool)) + head,
            _Slot(f'<div id="{call}-approval"></div>'),
            _Slot(_pending(run_id, payload.get("call"), "running…")),
            "</li>",
        ]
    if kind == "mcp_tools":
        tools = payload.get("tools") or []
        names = ", ".join(f"<code>{_text(tool)}</code>" for tool in tools)
        return [
            f'{_li(run_id, seq, "ev-mcp")}<span class="ev-label">MCP · '
            f'{_text(payload.get("server"))}</span> <span class="muted small">'
            f'{_text(payload.get("url"))}</span><div class="small">{len(tools)} '
            f"tool{'' if len(tools) == 1 else 's'}: {names}</div></li>"
        ]
    if kind == "lane_call":
        url = reverse("run_detail", args=[payload.get("run")])
        return [
            f'{_li(run_id, seq, "ev-lane-call")}<span class="ev-label">Lane call</span> '
            f'<strong>{_text(payload.get("label"))}</strong> became <a href="{url}">run '
            f'#{_text(payload.get("run"))}</a> <span class="muted small">(its column streams it)'
            "</span></li>"
        ]
    if kind == "response":
        return [_response(run_id, seq, payload)]
    return [f"{_li(run_id, seq, 'ev-note')}{_text(payload.get('text'))}</li>"]


def _response(run_id: int, seq: int, payload: dict) -> str:
    """A model response: how long it took, its tokens and what it cost (runs/timeline.py)."""
    li = _li(run_id, seq, "ev-response small muted", 'data-testid="response-step"')
    cached = payload.get("cached_input_tokens")
    reasoning = payload.get("reasoning_tokens")
    return (
        f"{li}Model response · {_text(seconds(response_seconds(payload)))}"
        f" · {_text(payload.get('input_tokens'))} in"
        + (f" ({_text(cached)} cached)" if cached else "")
        + f" · {_text(payload.get('output_tokens'))} out"
        + (f" ({_text(reasoning)} reasoning)" if reasoning else "")
        + f" · {_text(dollars(payload.get('cost')))}</li>"
    )


def _elsewhere(kind: str, payload: dict) -> list[tuple[str, str]]:
    """What an event appends outside its run's log, as (target id, html): a lane call's panel
    in its lane's column (the lane group page; other pages have no such target)."""
    if kind == "lane_call":
        html = render_to_string("runs/_lane_call.html", {"payload": payload})
        return [(f"lane-{payload.get('lane')}-calls", html)]
    return []


def _state_card(run_id: int, state: dict, *, readonly: bool = False) -> str:
    context = {"state": state, "run_id": run_id, "readonly": readonly}
    return render_to_string("runs/_state.html", context)


# --- one event, live -------------------------------------------------------------------------


def event_fragment(
    run_id: int, seq: int, kind: str, payload: dict, *, readonly: bool = False
) -> str:
    """One event as the out-of-band fragment the websocket sends; `readonly` (a shared run):
    without any control."""
    if kind in STEP_KINDS:
        step = "".join(str(part) for part in _step(run_id, seq, kind, payload))
        html = f'<div hx-swap-oob="beforeend:#run-{run_id}-log">{step}</div>'
        for target, inner in _elsewhere(kind, payload):
            html += f'<div hx-swap-oob="beforeend:#{target}">{inner}</div>'
        return html
    if kind == "state":
        card = _state_card(run_id, payload, readonly=readonly)
        return f'<div hx-swap-oob="outerHTML:#run-{run_id}-state">{card}</div>'
    if kind in ("text_delta", "reasoning_delta"):
        target = dom_id(run_id, payload.get("item"))
        delta = _text(payload.get("delta"))
        return f'<span hx-swap-oob="beforeend:#{target}"><span>{delta}</span></span>'
    if kind in ("message", "reasoning"):
        return _text_div(dom_id(run_id, payload.get("item")), _text(payload.get("text")), oob=True)
    if kind == "tool_output":
        return _output(run_id, payload, oob=True)
    if kind in ("approval_requested", "approval_decided"):
        return _approval(run_id, kind, payload, oob=True, readonly=readonly) + _approval_output(
            run_id, kind, payload, oob=True
        )
    return ""


# --- a whole log, folded ---------------------------------------------------------------------


class FoldedLog:
    """What applying every fragment in order would leave on the page: the log's steps, the
    last state, the last seq, and what was appended outside the log (`elsewhere`, by target
    id, for the pages that have those targets). A fragment whose target is missing changes
    nothing, as on the page; an id seen twice addresses its first element, as getElementById
    does."""

    def __init__(self, run_id: int, *, readonly: bool = False) -> None:
        self.run_id = run_id
        self.readonly = readonly
        self.steps: list[list[Any]] = []
        self.slots: dict[str, _Slot] = {}
        self.texts: dict[str, _TextSlot] = {}
        self.state: dict | None = None
        self.last_seq = 0
        self.elsewhere: dict[str, list[str]] = {}

    def apply(self, seq: int, kind: str, payload: dict) -> None:
        self.last_seq = max(self.last_seq, seq)
        run_id = self.run_id
        if kind in STEP_KINDS:
            parts = _step(run_id, seq, kind, payload)
            for part in parts:
                if isinstance(part, _TextSlot):
                    self.texts.setdefault(part.element_id, part)
            if kind == "tool_call":
                call = dom_id(run_id, payload.get("call"))
                self.slots.setdefault(f"{call}-approval", parts[1])
                self.slots.setdefault(f"{call}-out", parts[2])
            self.steps.append(parts)
            for target, inner in _elsewhere(kind, payload):
                self.elsewhere.setdefault(target, []).append(inner)
        elif kind == "state":
            self.state = payload
        elif kind in ("text_delta", "reasoning_delta"):
            if text := self.texts.get(dom_id(run_id, payload.get("item"))):
                text.chunks.append(f"<span>{_text(payload.get('delta'))}</span>")
        elif kind in ("message", "reasoning"):
            if text := self.texts.get(dom_id(run_id, payload.get("item"))):
                text.chunks = [_text(payload.get("text"))]
        elif kind == "tool_output":
            self._replace(payload, "out", _output(run_id, payload))
        elif kind in ("approval_requested", "approval_decided"):
            approval = _approval(run_id, kind, payload, oob=False, readonly=self.readonly)
            self._replace(payload, "approval", approval)
            if output := _approval_output(run_id, kind, payload, oob=False):
                self._replace(payload, "out", output)

    def _replace(self, payload: dict, part: str, html: str) -> None:
        if slot := self.slots.get(f"{dom_id(self.run_id, payload.get('call'))}-{part}"):
            slot.html = html

    @property
    def html(self) -> str:
        return "".join(str(part) for parts in self.steps for part in parts)


def log_html(
    run_id: int, events: Iterable[tuple[int, str, dict]], *, readonly: bool = False
) -> FoldedLog:
    """Fold (seq, kind, payload) rows, in seq order, into the log they build."""
    folded = FoldedLog(run_id, readonly=readonly)
    for seq, kind, payload in events:
        folded.apply(seq, kind, payload)
    return folded
