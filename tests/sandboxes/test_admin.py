"""The admin of sandboxes: its actions, and no secret of a session's stored state shown."""

from __future__ import annotations

import os
import shutil

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.urls import reverse

from sandboxes.models import SandboxSession

from ..conftest import PASSWORD, start_local_session

Status = SandboxSession.Status


@pytest.mark.django_db(transaction=True)
async def test_the_admin_shut_down_action_stops_the_selected_sessions(client, alice, starter):
    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", "root@example.com", PASSWORD
    )
    first = await start_local_session(alice, starter)
    second = await start_local_session(alice, starter)
    spared = await start_local_session(alice, starter)
    try:
        await sync_to_async(client.force_login)(admin)
        changelist = reverse("admin:sandboxes_sandboxsession_changelist")
        response = await sync_to_async(client.post)(
            changelist,
            {
                "action": "shut_down",
                "_selected_action": [str(first.pk), str(second.pk)],
                "select_across": "0",
                "index": "0",
            },
        )

        assert response.status_code == 302
        for session in (first, second):
            await session.arefresh_from_db()
            assert session.status == Status.STOPPED
            assert not os.path.exists(session.workspace_root)
        await spared.arefresh_from_db()
        assert spared.status == Status.RUNNING
        page = (await sync_to_async(client.get)(changelist)).content.decode()
        assert "Shut down 2 sandboxes." in page
    finally:
        shutil.rmtree(spared.workspace_root, ignore_errors=True)


@pytest.mark.django_db
def test_admin_never_shows_stored_sdk_state_secrets(client, alice, alice_session):
    get_user_model().objects.create_superuser("root", "", PASSWORD)
    alice_session.sdk_state = {
        "type": "e2b",
        "session_id": "abc",
        "base_envs": {"API_TOKEN": "sk-super-secret-value"},
        "mcp": {"exa": {"apiKey": "mcp-secret-key"}},
        "manifest": {"root": "/workspace"},
    }
    alice_session.save()
    client.login(username="root", password=PASSWORD)
    for url in (
        reverse("admin:sandboxes_sandboxsession_changelist"),
        reverse("admin:sandboxes_sandboxsession_change", args=[alice_session.pk]),
    ):
        page = client.get(url).content.decode()
        assert "sk-super-secret-value" not in page
        assert "mcp-secret-key" not in page
    assert "abc" in page


@pytest.mark.django_db
def test_status_and_backend_are_read_only_and_the_age_reads_as_words(client, alice_session):
    get_user_model().objects.create_superuser("root", "", PASSWORD)
    client.login(username="root", password=PASSWORD)
    change = reverse("admin:sandboxes_sandboxsession_change", args=[alice_session.pk])
    page = client.get(change).content.decode()
    assert 'name="status"' not in page and 'name="backend"' not in page
    changelist = client.get(reverse("admin:sandboxes_sandboxsession_changelist")).content.decode()
    assert "0\xa0minutes" in changelist  # timesince, not a raw timedelta like 0:06:00.456938
