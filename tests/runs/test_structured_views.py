"""Structured results on the pages: the agent form's output schema (validated, with a clear
error), the findings table and selection cards, the JSON export, and "open as comparison"."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from comparisons.models import Comparison, Version
from runs.event_log import render_event
from runs.models import AgentConfig, Lane, LaneGroup, Run, RunEvent
from runs.structured import (
    HOMEPAGE_SELECTION_SCHEMA,
    REVIEW_FINDINGS_SCHEMA,
    OutputSchemaInvalid,
    output_schema_parse,
)
from sandboxes.models import Preview, SandboxSession, Screenshot

from ..conftest import login

pytestmark = pytest.mark.django_db

AGENT = {
    "name": "Lead",
    "model": "demo",
    "instructions": "",
    "developer_instructions": "",
    "tool_choice": "auto",
    "max_turns": "10",
}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00"
FINDING = {
    "lane": "Backend, Repository",
    "severity": "high",
    "file": "backend/app.py",
    "line": 6,
    "finding": "A secret is hard-coded in the source.",
    "fix": "Load it from the environment.",
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "The output schema is not valid JSON (line 1, column 2"),
        ('{"type": "array"}', 'its top level needs "type": "object"'),
        ('{"type": "object", "properties": {"a": {"type": "strnig"}}}', "Not a valid JSON schema"),
        ("[1, 2]", "An output schema is a JSON object"),
    ],
)
def test_a_bad_output_schema_is_refused_with_the_reason_and_nothing_saved(
    client, alice, text, message
):
    login(client, alice)

    response = client.post(reverse("agent_new"), AGENT | {"output_schema": text})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="schema-error"' in page
    assert message in page.replace("&quot;", '"').replace("&#x27;", "'")
    assert text.replace('"', "&quot;") in page  # what was typed is kept
    assert not AgentConfig.objects.exists()


def test_an_output_schema_is_saved_and_shown_back_as_json(client, alice):
    login(client, alice)

    response = client.post(
        reverse("agent_new"), AGENT | {"output_schema": json.dumps(REVIEW_FINDINGS_SCHEMA)}
    )

    assert response.status_code == 302
    config = AgentConfig.objects.get(owner=alice)
    assert config.output_schema == REVIEW_FINDINGS_SCHEMA
    assert config.frozen()["output_schema"] == REVIEW_FINDINGS_SCHEMA
    page = client.get(reverse("agent_edit", args=[config.pk])).content.decode()
    assert "&quot;findings&quot;" in page
    # An empty box removes it.
    client.post(reverse("agent_edit", args=[config.pk]), AGENT | {"output_schema": " "})
    config.refresh_from_db()
    assert config.output_schema is None


def test_the_preset_schemas_are_valid():
    for schema in (REVIEW_FINDINGS_SCHEMA, HOMEPAGE_SELECTION_SCHEMA):
        assert output_schema_parse(json.dumps(schema)) == schema
    with pytest.raises(OutputSchemaInvalid):
        output_schema_parse('{"type": 5}')


@pytest.fixture
def reviewed(alice) -> Run:
    return Run.objects.create(
        owner=alice,
        prompt="Review",
        is_coordinator=True,
        status=Run.Status.SUCCEEDED,
        structured_output={"summary": "1 finding.", "findings": [FINDING]},
        final_output=json.dumps({"summary": "1 finding.", "findings": [FINDING]}),
    )


def test_findings_render_as_a_table_and_export_as_json(client, alice, reviewed):
    login(client, alice)

    page = client.get(reviewed.get_absolute_url()).content.decode()

    assert 'data-testid="findings-table"' in page
    assert "<code>backend/app.py</code>" in page
    assert '<td class="num">6</td>' in page
    assert "A secret is hard-coded in the source." in page
    export = client.get(reverse("run_result_json", args=[reviewed.pk]))
    assert export.status_code == 200
    assert export["Content-Type"] == "application/json"
    assert export["Content-Disposition"] == f'attachment; filename="run-{reviewed.pk}-result.json"'
    assert json.loads(export.content) == reviewed.structured_output


def test_a_selection_renders_as_cards_with_the_winner_marked(client, alice):
    selection = {
        "winner": "Editorial",
        "shortlist": [
            {"direction": "Editorial", "score": 9, "why": "Fits the brief."},
            {"direction": "Split", "score": 7, "why": "Clear."},
        ],
        "recommendation": "Ship Editorial.",
    }
    run = Run.objects.create(
        owner=alice, prompt="Pick", status=Run.Status.SUCCEEDED, structured_output=selection
    )
    login(client, alice)

    page = client.get(run.get_absolute_url()).content.decode()

    assert page.count('data-testid="pick"') == 2
    assert page.count('data-testid="winner"') == 1
    assert '<article class="pick winner" data-testid="pick">' in page
    assert "9/10" in page and "Ship Editorial." in page


def test_the_export_is_the_owner_s_only_and_needs_a_result(client, alice, bob, reviewed):
    login(client, bob)
    assert client.get(reverse("run_result_json", args=[reviewed.pk])).status_code == 404
    login(client, alice)
    plain = Run.objects.create(owner=alice, prompt="x", status=Run.Status.SUCCEEDED)
    assert client.get(reverse("run_result_json", args=[plain.pk])).status_code == 404


@pytest.fixture
def directions(alice, starter) -> LaneGroup:
    group = LaneGroup.objects.create(
        owner=alice, title="Homepage directions", task="A tea shop", mode=LaneGroup.Mode.AGENT
    )
    for position, (label, status) in enumerate(
        [("Split", Preview.Status.READY), ("Editorial", Preview.Status.STARTING)]
    ):
        session = SandboxSession.objects.create(
            owner=alice, manifest=starter, name=label, status=SandboxSession.Status.RUNNING
        )
        lane = Lane.objects.create(
            group=group,
            position=position,
            label=label,
            tool_name=f"lane_{label.lower()}",
            description=f"{label} direction",
            session=session,
            config={"name": "Homepage designer", "model": "demo"},
            serves_preview=True,
        )
        Run.objects.create(
            owner=alice,
            session=session,
            lane=lane,
            lane_group=group,
            prompt=f"build the {label} direction",
            status=Run.Status.SUCCEEDED,
        )
        Preview.objects.create(session=session, status=status, host_port=40000 + position)
    return group


def test_open_as_comparison_puts_the_directions_side_by_side(client, alice, directions):
    login(client, alice)
    page = client.get(directions.get_absolute_url()).content.decode()
    assert 'data-testid="open-comparison"' in page

    response = client.post(reverse("comparison_from_lanes", args=[directions.pk]))

    comparison = Comparison.objects.get(owner=alice)
    assert response.status_code == 302 and response.url == comparison.get_absolute_url()
    versions = list(comparison.versions.order_by("position"))
    assert [(v.label, v.stage) for v in versions] == [
        ("Split", Version.Stage.READY),
        ("Editorial", Version.Stage.PREVIEW),
    ]
    lanes = list(directions.lanes.order_by("position"))
    assert [v.session_id for v in versions] == [lane.session_id for lane in lanes]
    assert [v.run.prompt for v in versions] == [
        "build the Split direction",
        "build the Editorial direction",
    ]
    # The version whose preview was still booting follows it once it is ready.
    Preview.objects.filter(session=lanes[1].session).update(status=Preview.Status.READY)
    page = client.get(comparison.get_absolute_url()).content.decode()
    assert page.count('data-testid="version-frame"') == 2
    assert Version.objects.get(pk=versions[1].pk).stage == Version.Stage.READY


def test_another_user_cannot_open_someone_s_lanes_as_a_comparison(client, bob, directions):
    login(client, bob)
    assert client.post(reverse("comparison_from_lanes", args=[directions.pk])).status_code == 404
    assert client.get(directions.get_absolute_url()).status_code == 404
    assert not Comparison.objects.exists()


def test_a_group_with_fewer_than_two_called_lanes_cannot_be_compared(client, alice, directions):
    Run.objects.filter(lane__label="Editorial").delete()
    login(client, alice)

    response = client.post(reverse("comparison_from_lanes", args=[directions.pk]), follow=True)

    assert "A comparison needs 2 lanes that have run" in response.content.decode()
    assert not Comparison.objects.exists()


def test_a_lane_s_preview_slot_refreshes_itself_while_its_coordinator_works(
    client, alice, directions
):
    coordinator = Run.objects.create(
        owner=alice, prompt="pick", lane_group=directions, is_coordinator=True, status="running"
    )
    login(client, alice)
    lane = directions.lanes.get(label="Editorial")

    response = client.get(
        directions.get_absolute_url(),
        headers={"HX-Request": "true", "HX-Target": f"lane-{lane.pk}-preview"},
    )

    html = response.content.decode()
    assert html.lstrip().startswith(f'<div class="lane-preview" id="lane-{lane.pk}-preview"')
    assert "Preview starting" in html and "hx-trigger" in html
    missing = client.get(
        directions.get_absolute_url(), headers={"HX-Request": "true", "HX-Target": "lane-0-preview"}
    )
    assert missing.status_code == 404

    # Once the coordinator is done, the slot stops asking.
    Run.objects.filter(pk=coordinator.pk).update(status=Run.Status.SUCCEEDED)
    html = client.get(
        directions.get_absolute_url(),
        headers={"HX-Request": "true", "HX-Target": f"lane-{lane.pk}-preview"},
    ).content.decode()
    assert "hx-trigger" not in html


def test_a_lane_card_shows_its_screenshot_to_its_owner(client, alice, bob, directions):
    lane = directions.lanes.get(label="Split")
    shot = Screenshot(session=lane.session, width=2, height=2)
    shot.image.save("lane.png", ContentFile(PNG), save=True)
    login(client, alice)

    page = client.get(directions.get_absolute_url()).content.decode()

    assert page.count('data-testid="lane-thumbnail"') == 1
    assert f'src="{shot.get_absolute_url()}"' in page
    assert client.get(shot.get_absolute_url()).status_code == 200
    login(client, bob)
    assert client.get(shot.get_absolute_url()).status_code == 404


def test_the_admin_shows_a_group_s_lanes_and_a_lane_call_s_links(client, directions):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    page = client.get(reverse("admin:runs_lanegroup_change", args=[directions.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "lane_split" in html and "lane_editorial" in html
    call = Run.objects.filter(lane__isnull=False).first()
    page = client.get(reverse("admin:runs_run_change", args=[call.pk]))
    assert page.status_code == 200 and 'name="lane"' in page.content.decode()


def test_a_lane_call_comes_with_the_page_in_its_lane_s_column(client, alice, directions):
    """The page arrives with the coordinator's log folded (its socket resumes after it): a lane
    call it made shows in its lane's column as the live fragment put it there."""
    split, editorial = directions.lanes.order_by("position")
    coordinator = Run.objects.create(
        owner=alice, lane_group=directions, is_coordinator=True, prompt="pick one"
    )
    called = Run.objects.create(
        owner=alice,
        session=split.session,
        lane=split,
        lane_group=directions,
        parent=coordinator,
        prompt="Split, with a big photo",
        status=Run.Status.RUNNING,
    )
    payload = {
        "lane": split.pk,
        "label": "Split",
        "run": called.pk,
        "call": "c1",
        "prompt": "Split, with a big photo",
    }
    event = RunEvent.objects.create(run=coordinator, seq=1, kind="lane_call", payload=payload)
    fragment = render_event(event)
    live_panel = fragment.split(f'<div hx-swap-oob="beforeend:#lane-{split.pk}-calls">')[1]
    live_panel = live_panel.removesuffix("</div>")
    assert f'data-run="{called.pk}"' in live_panel

    login(client, alice)
    page = client.get(directions.get_absolute_url()).content.decode()

    split_column = page.split(f'id="lane-{split.pk}-calls"')[1].split(f'id="lane-{editorial.pk}"')[
        0
    ]
    assert live_panel in split_column
    assert page.count('data-testid="lane-call"') == 1
    log = page.split(f'id="run-{coordinator.pk}-log"')[1].split("</ol>")[0]
    assert (
        f'class="ev ev-lane-call" id="run-{coordinator.pk}-ev-1" data-seq="1"' in log
        and f"run #{called.pk}" in log
    )
    assert 'data-last-seq="1"' in page
