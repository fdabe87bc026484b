"""Timeline and cost of a scripted run with known usage and a known price table."""

from decimal import Decimal

import pytest
from agents.testing import ModelStep, assistant_message, function_call
from agents.usage import Usage
from asgiref.sync import sync_to_async
from django.template.loader import render_to_string
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from runs.models import ModelPrice, Run
from runs.timeline import run_timeline

from ..helpers import events_of, execute, use_model

pytestmark = pytest.mark.django_db(transaction=True)


def _usage(fresh_and_cached: int, cached: int, output: int, reasoning: int) -> Usage:
    return Usage(
        requests=1,
        input_tokens=fresh_and_cached,
        output_tokens=output,
        total_tokens=fresh_and_cached + output,
        input_tokens_details=InputTokensDetails(cached_tokens=cached, cache_write_tokens=0),
        output_tokens_details=OutputTokensDetails(reasoning_tokens=reasoning),
    )


def _script():
    return [
        ModelStep(
            output=[function_call("exec_command", {"cmd": "sleep 0.3; echo hi"}, call_id="c1")],
            usage=_usage(1000, 400, 500, 200),
        ),
        ModelStep(
            output=[function_call("exec_command", {"cmd": "exit 3"}, call_id="c2")],
            usage=_usage(2000, 1500, 100, 0),
        ),
        ModelStep(output=[assistant_message("Done.")], usage=_usage(3000, 2500, 50, 10)),
    ]


@pytest.fixture
async def price():
    return await ModelPrice.objects.acreate(
        model="scripted",
        input_per_million=Decimal("2.50"),
        cached_input_per_million=Decimal("0.25"),
        output_per_million=Decimal("15"),
    )


async def test_each_response_and_the_run_have_their_exact_cost(local_session, price):
    use_model("scripted", _script())
    run = await execute(local_session, model="scripted")
    assert run.status == Run.Status.SUCCEEDED, run.error

    # (fresh input x 2.50 + cached x 0.25 + output x 15) / 1M; reasoning is part of output.
    step_costs = [Decimal("0.009100"), Decimal("0.003125"), Decimal("0.002625")]
    responses = [e.payload for e in await events_of(run) if e.kind == "response"]
    assert [Decimal(r["cost"]) for r in responses] == step_costs
    assert [(r["cached_input_tokens"], r["reasoning_tokens"]) for r in responses] == [
        (400, 200),
        (1500, 0),
        (2500, 10),
    ]
    assert run.usage() == {
        "requests": 3,
        "input_tokens": 6000,
        "cached_input_tokens": 4400,
        "output_tokens": 650,
        "reasoning_tokens": 210,
        "total_tokens": 6650,
    }
    assert run.cost == sum(step_costs) == Decimal("0.014850")
    state = render_to_string("runs/_state.html", {"state": run.state_payload(), "run_id": run.pk})
    assert "$0.0149" in state and "4400 cached" in state and "210 reasoning" in state


async def test_the_timeline_has_every_step_with_its_timing(local_session, price):
    use_model("scripted", _script())
    run = await execute(local_session, model="scripted")
    timeline = await sync_to_async(run_timeline)(run)

    kinds = [bar.kind for bar in timeline.bars]
    assert kinds == ["response", "tool", "response", "tool", "response"]
    first_tool, second_tool = [bar for bar in timeline.bars if bar.kind == "tool"]
    assert first_tool.label == "$ sleep 0.3; echo hi"
    assert first_tool.status == "ok" and first_tool.detail == "exit 0"
    assert first_tool.seconds >= 0.3  # the command slept that long
    assert second_tool.status == "bad" and second_tool.detail == "exit 3"
    # Bars sit in time order inside the run's span, and point at their log entries.
    events = {e.seq: e for e in await events_of(run)}
    for bar in timeline.bars:
        assert 0 <= bar.left <= 100 and bar.left + bar.width <= 100.001
        assert events[bar.seq].kind == ("response" if bar.kind == "response" else "tool_call")
    starts = [bar.start for bar in timeline.bars]
    assert starts == sorted(starts)
    assert [bar.cost for bar in timeline.bars if bar.kind == "response"] == [
        Decimal("0.009100"),
        Decimal("0.003125"),
        Decimal("0.002625"),
    ]
    assert timeline.totals["tool"] >= 0.3
    html = await sync_to_async(render_to_string)(
        "runs/_timeline.html", {"run": run, "timeline": timeline}
    )
    assert html.count('data-testid="timeline-bar"') == 5
    assert "$0.0091" in html and "400 cached" in html and "200 reasoning" in html


async def test_a_model_without_a_price_says_no_price(local_session):
    use_model("scripted", _script())
    run = await execute(local_session, model="scripted")
    assert run.cost is None
    responses = [e.payload for e in await events_of(run) if e.kind == "response"]
    assert [r["cost"] for r in responses] == [None, None, None]
    state = render_to_string("runs/_state.html", {"state": run.state_payload(), "run_id": run.pk})
    assert "no price" in state


async def test_with_tracing_on_the_run_stores_its_trace_and_links_to_it(
    local_session, settings, alice
):
    from agents.tracing import set_trace_processors
    from agents.tracing.processors import default_processor
    from django.test import AsyncClient

    from ..conftest import alogin

    settings.AGENTS_TRACING = True
    use_model("scripted", _script())
    set_trace_processors([])  # traces are made, not exported: no network here
    try:
        run = await execute(local_session, model="scripted")
    finally:
        set_trace_processors([default_processor()])
    assert run.trace_id.startswith("trace_") and len(run.trace_id) > 20
    client = await alogin(AsyncClient(), alice)
    page = (await client.get(run.get_absolute_url())).content.decode()
    assert f"https://platform.openai.com/traces/trace?trace_id={run.trace_id}" in page


async def test_with_tracing_off_there_is_no_trace(local_session):
    use_model("scripted", _script())
    run = await execute(local_session, model="scripted")
    assert run.trace_id == "" and run.trace_url == ""


def test_a_long_run_draws_its_latest_steps_and_counts_the_rest(alice_run):
    from datetime import timedelta

    from django.utils import timezone

    from runs.models import RunEvent
    from runs.timeline import BAR_LIMIT

    start = timezone.now() - timedelta(hours=1)
    events, seq = [], 0
    for step in range(400):  # 800 bars' worth: a response and a shell call per step
        at = start + timedelta(seconds=step)
        for kind, payload in (
            ("response", {"started_at": at.isoformat(), "ended_at": at.isoformat(), "cost": None}),
            ("tool_call", {"call": f"c{step}", "tool": "exec_command", "command": f"echo {step}"}),
            ("tool_output", {"call": f"c{step}", "output": "x", "exit_code": 0}),
        ):
            seq += 1
            events.append(
                RunEvent(run=alice_run, seq=seq, kind=kind, payload=payload, created_at=at)
            )
    RunEvent.objects.bulk_create(events)
    timeline = run_timeline(alice_run)
    assert len(timeline.bars) <= BAR_LIMIT
    assert timeline.hidden == 800 - len(timeline.bars)
    assert timeline.bars[-1].label == "$ echo 399" and timeline.bars[-1].detail == "exit 0"
    assert next(bar.cost for bar in timeline.bars if bar.kind == "response") is None


def _event(run, seq, kind, payload, at):
    from runs.models import RunEvent

    return RunEvent.objects.create(run=run, seq=seq, kind=kind, payload=payload, created_at=at)


def test_a_wait_for_approval_is_its_own_bar_until_the_decision(alice_run):
    from datetime import timedelta

    from django.utils import timezone

    t0 = timezone.now() - timedelta(minutes=5)
    at = lambda seconds: t0 + timedelta(seconds=seconds)  # noqa: E731
    call = {"call": "c1", "tool": "exec_command", "command": "rm -rf build"}
    _event(alice_run, 1, "tool_call", call, at(0))
    _event(
        alice_run,
        2,
        "approval_requested",
        {"call": "c1", "kind_label": "Shell command", "requested_at": at(1).isoformat()},
        at(1),
    )
    timeline = run_timeline(alice_run)
    tool, wait = timeline.bars
    assert (tool.status, tool.detail, wait.status, wait.detail) == (
        "waiting",
        "awaiting approval",
        "waiting",
        "pending",
    )
    assert wait.seq == 1  # a click goes to the call, where the approval is shown
    _event(
        alice_run,
        3,
        "approval_decided",
        {"call": "c1", "decision": "approved", "decided_at": at(61).isoformat()},
        at(61),
    )
    tool, wait = run_timeline(alice_run).bars
    assert wait.detail == "approved" and wait.seconds == 60
    assert wait.label == "Waiting for approval · shell command"


def test_a_coordinator_shows_its_lanes_above_its_own_steps(alice, alice_session):
    from datetime import timedelta

    from django.utils import timezone

    from runs.models import LaneGroup

    t0 = timezone.now() - timedelta(minutes=5)
    group = LaneGroup.objects.create(owner=alice, title="Review", task="Sum up")
    lanes = [
        Run.objects.create(
            owner=alice,
            session=alice_session,
            lane_group=group,
            lane_label=label,
            config={},
            prompt="p",
            status=Run.Status.SUCCEEDED,
            started_at=t0,
            finished_at=t0 + timedelta(seconds=seconds),
            cost=Decimal("0.01"),
        )
        for label, seconds in (("Security", 30), ("Style", 10))
    ]
    coordinator = Run.objects.create(
        owner=alice,
        lane_group=group,
        is_coordinator=True,
        config={},
        prompt="p",
        status=Run.Status.SUCCEEDED,
        started_at=t0 + timedelta(seconds=31),
        finished_at=t0 + timedelta(seconds=40),
    )
    _event(
        coordinator,
        1,
        "response",
        {
            "started_at": (t0 + timedelta(seconds=32)).isoformat(),
            "ended_at": (t0 + timedelta(seconds=39)).isoformat(),
            "cost": "0.002",
        },
        t0 + timedelta(seconds=39),
    )
    bars = run_timeline(coordinator).bars
    assert [(bar.kind, bar.label) for bar in bars] == [
        ("lane", "Lane · Security"),
        ("lane", "Lane · Style"),
        ("lane", "Coordinator"),
        ("response", "Model response"),
    ]
    assert bars[0].href == lanes[0].get_absolute_url() and bars[0].seconds == 30
    assert bars[3].depth == 1 and bars[3].cost == Decimal("0.002")
    assert bars[0].left == 0 and bars[3].left > bars[1].left
