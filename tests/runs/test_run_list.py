"""The runs page: every run of the user, filtered, searched, sorted and paged."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs.models import Run

from ..conftest import login

pytestmark = pytest.mark.django_db


def _runs(owner, session, n: int, **fields) -> list[Run]:
    start = timezone.now() - timedelta(days=1)
    runs = [
        Run(
            owner=owner,
            session=session,
            config={"name": fields.get("agent", "Builder"), "model": fields.get("model", "demo")},
            prompt=fields.get("prompt", f"Build page number {i}"),
            final_output=fields.get("final_output", "Built it."),
            status=fields.get("status", Run.Status.SUCCEEDED),
            total_tokens=fields.get("tokens", 100 + i),
            cost=fields.get("cost", Decimal("0.01")),
            started_at=start,
            finished_at=start + timedelta(seconds=fields.get("seconds", 10 + i)),
        )
        for i in range(n)
    ]
    return Run.objects.bulk_create(runs)


def _rows(response) -> list[int]:
    html = response.content.decode()
    return [int(part.split('"')[0]) for part in html.split('data-run="')[1:]]


def test_it_lists_only_my_runs(client, alice, bob, alice_session):
    mine = _runs(alice, alice_session, 3)
    _runs(bob, None, 2, prompt="bob's secret plan")
    response = login(client, alice).get("/runs/")
    assert response.status_code == 200
    assert sorted(_rows(response)) == sorted(r.pk for r in mine)
    assert "secret plan" not in response.content.decode()
    # Searching for the other user's words finds nothing either.
    assert _rows(client.get("/runs/", {"q": "secret"})) == []


def test_search_finds_a_run_by_a_word_of_its_prompt_or_output(client, alice, alice_session):
    _runs(alice, alice_session, 3)
    (pricing,) = _runs(alice, alice_session, 1, prompt="Add a PRICING table")
    (answer,) = _runs(alice, alice_session, 1, final_output="I added a testimonials carousel.")
    login(client, alice)
    assert _rows(client.get("/runs/", {"q": "pricing"})) == [pricing.pk]
    assert _rows(client.get("/runs/", {"q": "Testimonials"})) == [answer.pk]
    assert _rows(client.get("/runs/", {"q": "pricing carousel"})) == []


def test_filters_by_status_model_agent_session_and_date(client, alice, alice_session, starter):
    from sandboxes.models import SandboxSession

    other = SandboxSession.objects.create(owner=alice, manifest=starter, name="other")
    (failed,) = _runs(alice, alice_session, 1, status=Run.Status.FAILED)
    (mini,) = _runs(alice, alice_session, 1, model="gpt-5.4-mini")
    (reviewer,) = _runs(alice, alice_session, 1, agent="Reviewer")
    (elsewhere,) = _runs(alice, other, 1)
    old = _runs(alice, alice_session, 1)[0]
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    login(client, alice)
    assert _rows(client.get("/runs/", {"status": "failed"})) == [failed.pk]
    assert _rows(client.get("/runs/", {"model": "gpt-5.4-mini"})) == [mini.pk]
    assert _rows(client.get("/runs/", {"agent": "Reviewer"})) == [reviewer.pk]
    assert _rows(client.get("/runs/", {"session": other.pk})) == [elsewhere.pk]
    until = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert _rows(client.get("/runs/", {"until": until})) == [old.pk]
    # The model and agent filters offer what my runs used.
    page = client.get("/runs/").content.decode()
    assert '<option value="gpt-5.4-mini">' in page and '<option value="Reviewer">' in page


def test_bad_filters_say_so_and_list_everything(client, alice, alice_session):
    mine = _runs(alice, alice_session, 2)
    login(client, alice)
    response = client.get("/runs/", {"since": "2026-05-01", "until": "2026-01-01"})
    assert response.status_code == 200
    assert "“From” is after “to”." in response.content.decode()
    assert sorted(_rows(response)) == sorted(r.pk for r in mine)
    assert client.get("/runs/", {"session": "nope", "sort": "x"}).status_code == 200


def test_it_sorts_by_duration_tokens_and_cost(client, alice, alice_session):
    (slow,) = _runs(alice, alice_session, 1, seconds=500, tokens=5, cost=Decimal("0.5"))
    (big,) = _runs(alice, alice_session, 1, seconds=2, tokens=90000, cost=Decimal("0.02"))
    (unpriced,) = _runs(alice, alice_session, 1, seconds=3, tokens=50, cost=None)
    login(client, alice)
    assert _rows(client.get("/runs/", {"sort": "longest"}))[0] == slow.pk
    assert _rows(client.get("/runs/", {"sort": "most_tokens"}))[0] == big.pk
    assert _rows(client.get("/runs/", {"sort": "costliest"})) == [slow.pk, big.pk, unpriced.pk]
    cheapest = client.get("/runs/", {"sort": "cheapest"})
    assert _rows(cheapest) == [big.pk, slow.pk, unpriced.pk]
    assert "no price" in cheapest.content.decode()


def test_it_pages_with_the_same_number_of_queries_for_10_and_1000_runs(
    client, alice, bob, alice_session
):
    login(client, alice)
    _runs(bob, None, 50)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/runs/", {"sort": "costliest", "page": "2"})
        assert response.status_code == 200
        return len(captured)

    _runs(alice, alice_session, 60)
    few = queries()
    _runs(alice, alice_session, 940)
    assert queries() == few
    response = client.get("/runs/", {"page": "3"})
    assert len(_rows(response)) == 50 and "page 3 of 20" in response.content.decode()


def test_the_htmx_filter_returns_the_table_alone(client, alice, alice_session):
    _runs(alice, alice_session, 2)
    login(client, alice)
    response = client.get(
        "/runs/", {"q": "page"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="run-table"
    )
    html = response.content.decode()
    assert html.startswith('<section id="run-table"') and "<form" not in html
