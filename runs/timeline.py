"""A run's timeline (a waterfall of its steps), computed from its event log.

Bars: each model response (its duration, tokens and cost), each tool call (its duration and exit
code), each wait for a person's approval; for a lane group's coordinator, its lanes first. The
timings are those the events store (runs/sdk_events.py); a step still under way ends "now".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models.fields.json import KT
from django.utils import timezone

from .models import Run, RunEvent

# Past this many bars a waterfall is unreadable and slow to draw: a long run shows its latest
# steps, and counts the earlier ones.
BAR_LIMIT = 300
ROWS_PER_BAR = 2  # a model response or a tool call and its output: about two events a bar
BAR_KINDS = ("response", "tool_call", "approval_requested")
STEP_KINDS = ("response", "tool_call", "approval_requested", "approval_decided")


@dataclass
class Bar:
    kind: str  # response | tool | approval | lane
    label: str
    start: datetime
    end: datetime
    seq: int | None = None  # the log entry a click scrolls to
    href: str = ""  # or a page (a lane's run)
    detail: str = ""
    cost: Decimal | None = None
    priced: bool = True
    status: str = ""  # ok | bad | running | waiting
    depth: int = 0
    left: float = 0.0
    width: float = 0.0

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


@dataclass
class Timeline:
    bars: list[Bar] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    hidden: int = 0
    totals: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return max((self.end - self.start).total_seconds(), 0.0)


def _time(value, fallback: datetime) -> datetime:
    if not isinstance(value, str):
        return fallback
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return fallback


def _cost(value) -> Decimal | None:
    # A JSON null read as text is "null" on SQLite.
    return None if value in (None, "", "null") else Decimal(str(value))


def _tokens(payload: dict) -> str:
    text = f"{payload.get('input_tokens', 0):,} in"
    if payload.get("cached_input_tokens"):
        text += f" ({payload['cached_input_tokens']:,} cached)"
    text += f" · {payload.get('output_tokens', 0):,} out"
    if payload.get("reasoning_tokens"):
        text += f" ({payload['reasoning_tokens']:,} reasoning)"
    return text


def _tool_label(payload: dict) -> str:
    if payload.get("command") is not None:
        return f"$ {payload['command']}"[:120]
    if payload.get("tool") == "apply_patch":
        return "apply_patch"
    server = payload.get("server")
    return f"{server} · {payload.get('tool', 'tool')}" if server else payload.get("tool", "tool")


# What a bar needs of each event's payload, read by the database (JSON key extraction): a
# tool's output (up to EVENT_OUTPUT_LIMIT) and a patch's text are never decoded here.
STEP_KEYS = (
    "call",
    "tool",
    "command",
    "server",
    "started_at",
    "ended_at",
    "exit_code",
    "still_running",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "kind_label",
    "requested_at",
    "decision",
    "decided_at",
)


def _step_rows(run: Run):
    kinds = (*STEP_KINDS, "tool_output")
    return (
        RunEvent.objects.filter(run_id=run.pk, kind__in=kinds)
        .annotate(**{f"p_{key}": KT(f"payload__{key}") for key in STEP_KEYS})
        .order_by("seq")
        .values_list("seq", "kind", "created_at", *(f"p_{key}" for key in STEP_KEYS))
    )


def _number(value) -> int:
    return int(value) if value not in (None, "") else 0


def _step_bars(run: Run, now: datetime) -> list[Bar]:
    # A long run shows its latest steps: read only the newest events that can make bars.
    newest = list(_step_rows(run).order_by("-seq")[: BAR_LIMIT * ROWS_PER_BAR])
    rows = [
        (seq, kind, at, dict(zip(STEP_KEYS, rest, strict=True)))
        for seq, kind, at, *rest in reversed(newest)
    ]
    outputs = {p["call"]: (at, p) for _, kind, at, p in rows if kind == "tool_output"}
    bars: list[Bar] = []
    calls: dict[str, Bar] = {}
    waits: dict[str, Bar] = {}
    for seq, kind, created_at, payload in rows:
        if kind == "response":
            end = _time(payload["ended_at"], created_at)
            tokens = {key: _number(payload[key]) for key in STEP_KEYS[8:12]}
            bars.append(
                Bar(
                    kind="response",
                    label="Model response",
                    start=_time(payload["started_at"], end),
                    end=end,
                    seq=seq,
                    detail=_tokens(tokens),
                    cost=_cost(payload["cost"]),
                    priced=_cost(payload["cost"]) is not None,
                    status="ok",
                )
            )
        elif kind == "tool_call":
            call = payload["call"] or ""
            bar = Bar(
                kind="tool",
                label=_tool_label(payload),
                start=created_at,
                end=now,
                seq=seq,
                status="running",
            )
            if call in outputs:
                output_at, output = outputs[call]
                bar.start = _time(output["started_at"], created_at)
                bar.end = _time(output["ended_at"], output_at)
                code = output["exit_code"]
                if output["still_running"] in (True, 1, "true", "1"):
                    bar.status, bar.detail = "running", "still running"
                elif code not in (None, "null"):
                    bar.status = "ok" if str(code) == "0" else "bad"
                    bar.detail = f"exit {code}"
                else:
                    bar.status = "ok"
            calls[call] = bar
            bars.append(bar)
        elif kind == "approval_requested":
            call = payload["call"] or ""
            target = calls.get(call)
            wait = Bar(
                kind="approval",
                label=f"Waiting for approval · {(payload['kind_label'] or 'call').lower()}",
                start=_time(payload["requested_at"], created_at),
                end=now,
                seq=target.seq if target else None,
                detail="pending",
                status="waiting",
                depth=1,
            )
            waits[call] = wait
            bars.append(wait)
            if target is not None and target.status == "running":
                # A call waiting for approval is not running: its bar is the wait's.
                target.end = wait.start
                target.status, target.detail = "waiting", "awaiting approval"
        elif kind == "approval_decided":
            wait = waits.get(payload["call"] or "")
            if wait is not None and wait.detail == "pending":
                wait.end = _time(payload["decided_at"], created_at)
                wait.detail = payload["decision"] or ""
                wait.status = "ok" if wait.detail == "approved" else "bad"
    return bars


def _lane_bars(run: Run, now: datetime) -> list[Bar]:
    lanes = (
        Run.objects.filter(lane_group_id=run.lane_group_id, is_coordinator=False)
        .exclude(started_at=None)
        .order_by("pk")
    )
    bars = []
    for lane in lanes:
        status = {"succeeded": "ok", "running": "running", "queued": "running"}.get(
            lane.status, "bad"
        )
        bars.append(
            Bar(
                kind="lane",
                label=f"Lane · {lane.lane_label or lane.pk}",
                start=lane.started_at,
                end=lane.finished_at or now,
                href=lane.get_absolute_url(),
                detail=f"{lane.get_status_display()} · {lane.total_tokens:,} tokens",
                cost=lane.cost,
                priced=lane.cost is not None,
                status=status,
            )
        )
    return bars


def run_timeline(run: Run) -> Timeline:
    now = timezone.now()
    bars = _step_bars(run, now)
    if run.is_coordinator and run.lane_group_id is not None:
        for bar in bars:
            bar.depth += 1
        lanes = _lane_bars(run, now)
        if lanes:
            coordinator = Bar(
                kind="lane",
                label="Coordinator",
                start=run.started_at or now,
                end=run.finished_at or now,
                detail=f"{run.total_tokens:,} tokens",
                cost=run.cost,
                priced=run.cost is not None,
                status="ok" if run.status == Run.Status.SUCCEEDED else "running",
            )
            bars = lanes + ([coordinator] if run.started_at else []) + bars
    timeline = Timeline()
    if not bars:
        return timeline
    steps = len([bar for bar in bars if bar.kind != "lane"])
    if steps >= BAR_LIMIT:
        counted = RunEvent.objects.filter(run_id=run.pk, kind__in=BAR_KINDS).count()
        timeline.hidden = max(counted - steps, 0)
    if len(bars) > BAR_LIMIT:
        timeline.hidden += len(bars) - BAR_LIMIT
        bars = bars[-BAR_LIMIT:]
    timeline.start = min(bar.start for bar in bars)
    timeline.end = max([bar.end for bar in bars] + ([run.finished_at] if run.finished_at else []))
    if run.started_at and not timeline.hidden:
        timeline.start = min(timeline.start, run.started_at)
    span = max(timeline.seconds, 0.001)
    for bar in bars:
        bar.left = round((bar.start - timeline.start).total_seconds() / span * 100, 3)
        bar.width = round(max(bar.seconds / span * 100, 0.4), 3)
        bar.left = min(bar.left, 100 - bar.width)
    for kind in ("response", "tool", "approval"):
        timeline.totals[kind] = sum(bar.seconds for bar in bars if bar.kind == kind)
    timeline.bars = bars
    return timeline
