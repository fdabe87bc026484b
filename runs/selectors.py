"""Reads of agent configs, runs, lane groups and events, scoped to their owner."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import AgentConfig, LaneGroup, Run, RunEvent


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


def run_events(run: Run, *, after: int = 0) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run_id=run.pk, seq__gt=after).order_by("seq")
