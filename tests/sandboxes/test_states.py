"""Pages never contradict themselves: each state is said once, the same way, with what it allows.

A paused sandbox offers Resume (and nothing that needs it running); a stopped preview offers no
share link; a second "Start preview" opens the one that runs; a finished lane group offers no
"Cancel all".
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from runs.models import LaneGroup, Run
from sandboxes.models import Preview, SandboxSession

from ..conftest import login

pytestmark = pytest.mark.django_db

PREVIEW_FORM = {"port": "4173", "command": "npm run dev -- --port {port}", "next": "session"}


def test_a_paused_sandbox_says_resume_everywhere_and_nothing_else(client, alice, alice_session):
    alice_session.status = SandboxSession.Status.PAUSED
    alice_session.save()
    page = login(client, alice).get(alice_session.get_absolute_url()).content.decode()
    note = "This sandbox is paused: resume it to run agents, previews and commands again."
    assert page.count(note) == 3  # the conversation, the preview and the files say it alike
    assert "open a new one from its starter" not in page
    assert ">Resume</button>" in page
    assert 'data-testid="workspace-closed"' in page
    assert 'data-testid="start-preview"' not in page and 'id="run-form"' not in page


def test_a_stopped_sandbox_says_it_is_over(client, alice, alice_session):
    alice_session.status = SandboxSession.Status.STOPPED
    alice_session.save()
    page = login(client, alice).get(alice_session.get_absolute_url()).content.decode()
    assert "This sandbox is stopped; open a new one from its starter to work again." in page
    assert "resume it" not in page and ">Resume</button>" not in page


def test_a_stopped_preview_offers_start_again_and_no_share_link(client, alice, alice_session):
    preview = Preview.objects.create(
        session=alice_session, port=4173, command="npm run dev", status=Preview.Status.STOPPED
    )
    page = login(client, alice).get(preview.get_absolute_url()).content.decode()
    assert "Create share link" not in page
    assert "Start the preview again to share it." in page
    assert ">Start again</button>" in page

    alice_session.status = SandboxSession.Status.STOPPED
    alice_session.save()
    page = client.get(preview.get_absolute_url()).content.decode()
    assert "Create share link" not in page and "Start again" not in page
    assert "open a new one from its starter" in page


def test_start_preview_twice_on_one_port_opens_the_running_one(client, alice, alice_session):
    running = Preview.objects.create(
        session=alice_session, port=4173, command="npm run dev", status=Preview.Status.STARTING
    )
    login(client, alice)
    page = client.get(alice_session.get_absolute_url()).content.decode()
    assert 'data-testid="start-preview"' not in page  # open or restart it instead
    assert 'data-testid="restart-preview"' in page

    # A second tab still shows the old form: sending it starts nothing new.
    response = client.post(reverse("preview_create", args=[alice_session.pk]), PREVIEW_FORM)
    assert response.status_code == 302
    assert list(alice_session.previews.values_list("pk", flat=True)) == [running.pk]
    page = client.get(response.url).content.decode()
    assert "A preview already runs on port 4173: here it is." in page

    # Another port is another preview.
    client.post(reverse("preview_create", args=[alice_session.pk]), PREVIEW_FORM | {"port": "5000"})
    assert alice_session.previews.count() == 2


def test_cancel_all_is_offered_only_while_a_lane_runs(client, alice, alice_session):
    group = LaneGroup.objects.create(owner=alice, title="Review", task="Review it")
    lane = Run.objects.create(
        owner=alice,
        session=alice_session,
        config={"name": "A", "model": "demo"},
        prompt="look",
        lane_group=group,
        lane_label="Frontend",
    )
    login(client, alice)
    assert 'data-testid="cancel-group"' in client.get(group.get_absolute_url()).content.decode()
    lane.status = Run.Status.SUCCEEDED
    lane.save()
    assert 'data-testid="cancel-group"' not in client.get(group.get_absolute_url()).content.decode()


def test_a_run_of_a_paused_sandbox_offers_no_links_into_it(client, alice, alice_run):
    page = login(client, alice).get(alice_run.get_absolute_url()).content.decode()
    assert "Workspace files" in page and "Start a preview" in page
    alice_run.session.status = SandboxSession.Status.PAUSED
    alice_run.session.save()
    page = client.get(alice_run.get_absolute_url()).content.decode()
    assert "Workspace files" not in page and "Start a preview" not in page
    assert "This sandbox is paused: resume it" in page
