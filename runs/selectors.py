"""Reads of agent configs, runs, lane groups and events, scoped to their owner."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.utils.safestring import SafeString, mark_safe

from sandboxes.models import Preview
from sandboxes.selectors import session_latest_screenshot

from .event_html import log_html
from .models import AgentConfig, Approval, Lane, LaneGroup, Run, RunEvent, Thread

USAGE_FIELDS = ("requests", "input_tokens", "output_tokens", "total_tokens")


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


def usage_of(runs: QuerySet[Run] | Iterable[Run]) -> dict[str, int]:
    """The usage of a set of runs, summed: a thread's turns, a version's history. The one place
    that adds usage up (cost per model joins here)."""
    if isinstance(runs, QuerySet):
        sums = runs.aggregate(**{name: Sum(name) for name in USAGE_FIELDS})
        return {name: sums[name] or 0 for name in USAGE_FIELDS}
    runs = list(runs)
    return {name: sum(getattr(run, name) for run in runs) for name in USAGE_FIELDS}


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
