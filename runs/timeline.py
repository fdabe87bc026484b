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
from django.utils.dateparse import parse_datetime

from .models import Run, RunEvent

# Past this many bars a waterfall is unreadable and slow to draw: the rest are counted.
BAR_LIMIT = 400
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
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed or fallback


def _cost(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


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


def _step_bars(run: Run, now: datetime) -> list[Bar]:
    events = RunEvent.objects.filter(run_id=run.pk)
    steps = events.filter(kind__in=STEP_KINDS).order_by("seq")
    # Tool outputs can be large: read only the fields a bar needs.
    outputs = {
        row["call"]: row
        for row in events.filter(kind="tool_output")
        .annotate(
            call=KT("payload__call"),
            started=KT("payload__started_at"),
            ended=KT("payload__ended_at"),
            exit_code=KT("payload__exit_code"),
            still_running=KT("payload__still_running"),
        )
        .values("call", "started", "ended", "exit_code", "still_running", "created_at")
    }
    bars: list[Bar] = []
    calls: dict[str, Bar] = {}
    waits: dict[str, Bar] = {}
    for event in steps.only("seq", "kind", "payload", "created_at"):
        payload = event.payload
        if event.kind == "response":
            end = _time(payload.get("ended_at"), event.created_at)
            bars.append(
                Bar(
                    kind="response",
                    label="Model response",
                    start=_time(payload.get("started_at"), end),
                    end=end,
                    seq=event.seq,
                    detail=_tokens(payload),
                    cost=_cost(payload.get("cost")),
                    priced=payload.get("cost") is not None,
                    status="ok",
                )
            )
        elif event.kind == "tool_call":
            call = payload.get("call", "")
            output = outputs.get(call)
            bar = Bar(
                kind="tool",
                label=_tool_label(payload),
                start=event.created_at,
                end=now,
                seq=event.seq,
                status="running",
            )
            if output is not None:
                bar.start = _time(output["started"], event.created_at)
                bar.end = _time(output["ended"], output["created_at"])
                code = output["exit_code"]
                if output["still_running"] in (True, 1, "true", "1"):
                    bar.status, bar.detail = "running", "still running"
                elif code is not None:
                    bar.status = "ok" if str(code) == "0" else "bad"
                    bar.detail = f"exit {code}"
                else:
                    bar.status = "ok"
            calls[call] = bar
            bars.append(bar)
        elif event.kind == "approval_requested":
            call = payload.get("call", "")
            target = calls.get(call)
            wait = Bar(
                kind="approval",
                label=f"Waiting for approval · {payload.get('kind_label', 'call').lower()}",
                start=_time(payload.get("requested_at"), event.created_at),
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
        elif event.kind == "approval_decided":
            wait = waits.get(payload.get("call", ""))
            if wait is not None and wait.detail == "pending":
                wait.end = _time(payload.get("decided_at"), event.created_at)
                wait.detail = payload.get("decision", "")
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
    timeline.start = min([bar.start for bar in bars] + ([run.started_at] if run.started_at else []))
    timeline.end = max([bar.end for bar in bars] + ([run.finished_at] if run.finished_at else []))
    span = max(timeline.seconds, 0.001)
    for bar in bars:
        bar.left = round((bar.start - timeline.start).total_seconds() / span * 100, 3)
        bar.width = round(max(bar.seconds / span * 100, 0.4), 3)
        bar.left = min(bar.left, 100 - bar.width)
    for kind in ("response", "tool", "approval"):
        timeline.totals[kind] = sum(bar.seconds for bar in bars if bar.kind == kind)
    timeline.hidden = max(len(bars) - BAR_LIMIT, 0)
    timeline.bars = bars[:BAR_LIMIT]
    return timeline
