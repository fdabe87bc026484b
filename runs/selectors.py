"""Reads of agent configs, runs, lane groups and events, scoped to their owner."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.fields.json import KT
from django.utils.safestring import SafeString, mark_safe

from sandboxes.models import Preview
from sandboxes.selectors import session_latest_screenshot

from .event_html import log_html
from .models import AgentConfig, Approval, Lane, LaneGroup, Run, RunEvent, Thread

USAGE_FIELDS = Run.USAGE_FIELDS


def runs_of(user) -> QuerySet[Run]:
    return Run.objects.filter(owner=user)


def run_detail_queryset(user) -> QuerySet[Run]:
    return runs_of(user).select_related("session", "session__manifest", "lane_group")


def session_runs(session) -> QuerySet[Run]:
    return Run.objects.on_session(session)


def session_has_active_run(session) -> bool:
    return Run.objects.on_session(session).active().exists()


def agent_configs_of(user) -> QuerySet[AgentConfig]:
    return AgentConfig.objects.filter(owner=user)


def threads_of(user) -> QuerySet[Thread]:
    return Thread.objects.filter(owner=user)


def lane_groups_of(user) -> QuerySet[LaneGroup]:
    return LaneGroup.objects.filter(owner=user)


def lane_group_runs(group: LaneGroup) -> list[Run]:
    return list(group.runs.select_related("session").order_by("is_coordinator", "pk"))


def lane_group_lanes(group: LaneGroup) -> list[Lane]:
    """An agent-led group's lanes, each with its calls (oldest first) and its live preview."""
    lanes = list(group.lanes.select_related("session"))
    coordinating = group.runs.filter(is_coordinator=True).active().exists()
    for lane in lanes:
        lane.preview = lane.session.previews.order_by("-pk").first()
        lane.screenshot = session_latest_screenshot(lane.session)
        # Its slot asks for itself while the preview boots, or is ready and its screenshot (the
        # lane call takes it) is still to come.
        booting = lane.preview is None or lane.preview.status == Preview.Status.STARTING
        lane.refreshing = coordinating and (booting or lane.screenshot is None)
    return lanes


def run_events(run: Run, *, after: int = 0) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run_id=run.pk, seq__gt=after).order_by("seq")


@dataclass(frozen=True)
class RunLog:
    """A run's stored log as its page shows it; the page's websocket resumes after last_seq."""

    html: SafeString
    state: dict
    last_seq: int
    # What the log's events appended outside it, by target id (a coordinator's lane calls).
    elsewhere: dict[str, SafeString]


def run_log(run: Run) -> RunLog:
    rows = run_events(run).values_list("seq", "kind", "payload").iterator(chunk_size=5000)
    folded = log_html(run.pk, rows)
    state = folded.state if folded.state is not None else run.state_payload()
    elsewhere = {target: mark_safe("".join(parts)) for target, parts in folded.elsewhere.items()}
    return RunLog(
        html=mark_safe(folded.html), state=state, last_seq=folded.last_seq, elsewhere=elsewhere
    )


def usage_of(runs: QuerySet[Run] | Iterable[Run]) -> dict:
    """The usage and cost of a set of runs, summed: a thread's turns, a version's history, a lane
    group. The one place that adds usage up. `cost` is None when none of the runs that used
    tokens has a price; `unpriced` counts those that have none (their cost is not in the sum)."""
    if isinstance(runs, QuerySet):
        # Prefixed: an aggregate named like a field hides the field from the filter below.
        sums = runs.aggregate(
            **{f"sum_{name}": Sum(name) for name in USAGE_FIELDS},
            sum_cost=Sum("cost"),
            unpriced=Count("pk", filter=Q(cost=None, total_tokens__gt=0)),
        )
        usage = {name: sums[f"sum_{name}"] or 0 for name in USAGE_FIELDS}
        usage["cost"], usage["unpriced"] = sums["sum_cost"], sums["unpriced"]
        return usage
    runs = list(runs)
    usage = {name: sum(getattr(run, name) for run in runs) for name in USAGE_FIELDS}
    costs = [run.cost for run in runs if run.cost is not None]
    usage["cost"] = sum(costs, Decimal(0)) if costs else None
    usage["unpriced"] = sum(1 for run in runs if run.cost is None and run.total_tokens)
    return usage


def session_threads(session) -> QuerySet[Thread]:
    """A session's conversations, newest first, each with its first request and turn count."""
    first = Run.objects.filter(thread=OuterRef("pk")).order_by("turn", "pk").values("prompt")
    return Thread.objects.filter(session=session).annotate(
        first_prompt=Subquery(first[:1]), turn_count=Count("runs")
    )


def thread_for_page(session, thread_id: str | None) -> Thread | None:
    """The conversation a session page shows: the one asked for, else the newest."""
    threads = session_threads(session)
    if thread_id and thread_id.isdecimal():
        return threads.filter(pk=int(thread_id)).first()
    return threads.first()


def thread_turns(thread: Thread) -> QuerySet[Run]:
    return thread.runs.order_by("turn", "pk")


def session_latest_run(session) -> Run | None:
    """The newest run on a session (whatever started it): what its preview now shows."""
    return Run.objects.on_session(session).order_by("-created_at", "-pk").first()


def approvals_of(user) -> QuerySet[Approval]:
    return Approval.objects.filter(run__owner=user).select_related("run")


def run_filter_choices(user) -> dict[str, list[str]]:
    """The models and agents the user's runs used (a filter's choices): two queries."""
    runs = runs_of(user)
    return {
        name: sorted(
            value
            for value in runs.annotate(value=KT(f"config__{key}"))
            .values_list("value", flat=True)
            .distinct()
            .order_by()
            if value
        )
        for name, key in (("models", "model"), ("agents", "name"))
    }


def run_search(user, *, filters: dict, order: tuple[str, ...]) -> QuerySet[Run]:
    """The runs page: one user's runs, filtered and ordered; each word of `q` must appear in
    the prompt or the final output (case-insensitive)."""
    runs = (
        runs_of(user)
        .select_related("session")
        .annotate(
            took=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        )
    )
    for word in (filters.get("q") or "").split()[:10]:
        runs = runs.filter(Q(prompt__icontains=word) | Q(final_output__icontains=word))
    if filters.get("status"):
        runs = runs.filter(status=filters["status"])
    if filters.get("model"):
        runs = runs.filter(config__model=filters["model"])
    if filters.get("agent"):
        runs = runs.filter(config__name=filters["agent"])
    if filters.get("session"):
        runs = runs.filter(session_id=filters["session"])
    if filters.get("since"):
        runs = runs.filter(created_at__date__gte=filters["since"])
    if filters.get("until"):
        runs = runs.filter(created_at__date__lte=filters["until"])
    nulls_last = [
        F(name[1:]).desc(nulls_last=True) if name.startswith("-") else F(name).asc(nulls_last=True)
        for name in order
    ]
    return runs.order_by(*nulls_last).defer("paused_state", "final_output")
