"""Deleting from the UI: a sandbox (shut down first: processes gone, workspace removed), a run,
a comparison, a lane group. Only their owner can; what is still running is refused."""

from __future__ import annotations

import os

import pytest
from django.test import AsyncClient, Client
from django.urls import reverse

from comparisons.models import Comparison, ShareLink
from runs.models import LaneGroup, Run, RunEvent
from sandboxes.models import Preview, SandboxSession

from ..conftest import alogin, login, start_local_session
from ..fakes.previews import new_preview, supervisor, wait_for_status, wait_until_gone  # noqa: F401


@pytest.mark.django_db(transaction=True)
async def test_deleting_a_sandbox_stops_it_and_removes_its_workspace(
    alice,
    bob,
    starter,
    supervisor,  # noqa: F811
):
    local_session = await start_local_session(alice, starter)
    preview = await new_preview(local_session)
    supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)
    run = await Run.objects.acreate(
        owner=alice,
        session=local_session,
        config={"model": "demo"},
        prompt="done",
        status=Run.Status.SUCCEEDED,
    )
    root = local_session.workspace_root
    url = reverse("session_delete", args=[local_session.pk])

    bob_client = await alogin(AsyncClient(), bob)
    assert (await bob_client.post(url)).status_code == 404
    assert await SandboxSession.objects.filter(pk=local_session.pk).aexists()
    assert os.path.isdir(root)

    client = await alogin(AsyncClient(), alice)
    response = await client.post(url)
    assert response.status_code == 302 and response.url == reverse("session_list")
    assert not await SandboxSession.objects.filter(pk=local_session.pk).aexists()
    assert not await Run.objects.filter(pk=run.pk).aexists()
    assert not await Preview.objects.filter(pk=preview.pk).aexists()
    assert await wait_until_gone(preview.pid) == []  # its dev server's processes are gone
    assert not os.path.exists(root)
    page = (await client.get(response.url)).content.decode()
    assert "was deleted with its runs and workspace" in page


@pytest.mark.django_db
def test_the_session_page_offers_delete_with_a_confirmation(client, alice, alice_session):
    page = login(client, alice).get(alice_session.get_absolute_url()).content.decode()
    assert 'data-testid="delete-session"' in page
    assert "return confirm('Delete this sandbox?" in page


@pytest.mark.django_db
def test_deleting_a_run_keeps_its_sandbox_refuses_an_active_one(alice, bob, alice_run):
    url = reverse("run_delete", args=[alice_run.pk])
    assert login(Client(), bob).post(url).status_code == 404

    client = login(Client(), alice)
    client.post(url)  # still queued: active
    assert Run.objects.filter(pk=alice_run.pk).exists()
    assert "cancel it first" in client.get(alice_run.get_absolute_url()).content.decode()

    alice_run.status = Run.Status.SUCCEEDED
    alice_run.save()
    RunEvent.objects.create(run=alice_run, seq=1, kind="note", payload={})
    page = client.get(alice_run.get_absolute_url()).content.decode()
    assert 'data-testid="delete-run"' in page
    response = client.post(url)
    assert response.url == alice_run.session.get_absolute_url()
    assert not Run.objects.filter(pk=alice_run.pk).exists()
    assert not RunEvent.objects.exists()
    assert SandboxSession.objects.filter(pk=alice_run.session_id).exists()


@pytest.mark.django_db
def test_deleting_a_comparison_takes_its_shares_not_its_sandboxes(alice, bob, alice_session):
    comparison = Comparison.objects.create(owner=alice, title="Bakery")
    comparison.versions.create(label="a", prompt="p", session=alice_session)
    ShareLink.objects.create(
        owner=alice, comparison=comparison, salt="s", expires_at="2100-01-01T00:00Z"
    )
    url = reverse("comparison_delete", args=[comparison.pk])
    assert login(Client(), bob).post(url).status_code == 404
    assert Comparison.objects.exists()

    client = login(Client(), alice)
    assert 'data-testid="delete-comparison"' in (
        client.get(comparison.get_absolute_url()).content.decode()
    )
    response = client.post(url)
    assert response.url == reverse("comparison_list")
    assert not Comparison.objects.exists() and not ShareLink.objects.exists()
    assert SandboxSession.objects.filter(pk=alice_session.pk).exists()


@pytest.mark.django_db
def test_deleting_a_lane_group_waits_for_its_lanes(alice, bob, alice_session):
    group = LaneGroup.objects.create(owner=alice, title="Review", task="Review it")
    lane = Run.objects.create(
        owner=alice, session=alice_session, config={"model": "demo"}, prompt="x", lane_group=group
    )
    url = reverse("lane_group_delete", args=[group.pk])
    assert login(Client(), bob).post(url).status_code == 404

    client = login(Client(), alice)
    client.post(url)
    assert LaneGroup.objects.exists()  # a lane still runs
    lane.status = Run.Status.CANCELLED
    lane.save()
    assert 'data-testid="delete-group"' in client.get(group.get_absolute_url()).content.decode()
    response = client.post(url)
    assert response.url == reverse("presets")
    assert not LaneGroup.objects.exists() and not Run.objects.exists()
    assert SandboxSession.objects.filter(pk=alice_session.pk).exists()


@pytest.mark.django_db
def test_a_sandbox_a_live_share_shows_is_not_deleted_until_the_link_is_revoked(
    client, alice, alice_session
):
    """A share's snapshot is served through the sandbox's preview rows: deleting the sandbox
    would end the share, so the owner is told to revoke it (or shut the sandbox down)."""
    from datetime import timedelta

    from comparisons.models import Version
    from comparisons.shares import share_create, share_revoke

    comparison = Comparison.objects.create(owner=alice, title="Shared")
    Version.objects.create(comparison=comparison, label="A", prompt="p", session=alice_session)
    share = share_create(owner=alice, comparison=comparison, expires_in=timedelta(hours=1))
    url = reverse("session_delete", args=[alice_session.pk])

    login(client, alice)
    response = client.post(url, follow=True)
    assert SandboxSession.objects.filter(pk=alice_session.pk).exists()
    page = response.content.decode()
    assert "was not deleted: 1 live share link shows it. Revoke it first" in page

    share_revoke(share=share)
    client.post(url)
    assert not SandboxSession.objects.filter(pk=alice_session.pk).exists()
