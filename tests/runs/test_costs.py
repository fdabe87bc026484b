"""Cost summed wherever tokens are: a conversation, a lane group (usage_of, and the pages)."""

from decimal import Decimal

import pytest

from runs.models import LaneGroup, Run, Thread
from runs.selectors import usage_of

from ..conftest import login

pytestmark = pytest.mark.django_db


def _run(owner, **fields) -> Run:
    return Run.objects.create(owner=owner, config={"model": "gpt-5.4"}, prompt="p", **fields)


def test_usage_of_sums_costs_and_counts_runs_without_a_price(alice):
    runs = [
        _run(alice, total_tokens=100, cost=Decimal("0.010000")),
        _run(alice, total_tokens=50, cost=Decimal("0.002500")),
        _run(alice, total_tokens=70, cost=None),  # a model with no price
        _run(alice, total_tokens=0, cost=None),  # never asked the model: nothing to price
    ]
    for usage in (usage_of(Run.objects.filter(owner=alice)), usage_of(runs)):
        assert usage["total_tokens"] == 220
        assert usage["cost"] == Decimal("0.0125") and usage["unpriced"] == 1
    assert usage_of([runs[2]])["cost"] is None


def test_the_conversation_shows_its_cost(client, alice, alice_session):
    thread = Thread.objects.create(owner=alice, session=alice_session)
    for turn, cost in ((1, "0.0125"), (2, "0.0300")):
        _run(
            alice,
            session=alice_session,
            thread=thread,
            turn=turn,
            total_tokens=10,
            cost=Decimal(cost),
            status=Run.Status.SUCCEEDED,
        )
    page = login(client, alice).get(thread.get_absolute_url()).content.decode()
    assert '<span data-testid="thread-cost">$0.0425</span>' in page


def test_the_lane_group_shows_its_cost(client, alice, alice_session):
    group = LaneGroup.objects.create(owner=alice, title="Review", task="t")
    _run(
        alice,
        session=alice_session,
        lane_group=group,
        lane_label="A",
        total_tokens=5,
        cost=Decimal("1.5"),
    )
    _run(alice, lane_group=group, is_coordinator=True, total_tokens=5, cost=Decimal("0.25"))
    page = login(client, alice).get(group.get_absolute_url()).content.decode()
    assert '<span data-testid="group-cost">$1.75</span>' in page
