"""The session list: filters, bulk shutdown, and another user's sessions out of reach."""

from __future__ import annotations

import os
import shutil

import pytest
from django.urls import reverse

from sandboxes import services
from sandboxes.models import SandboxSession

from ..conftest import login, start_local_session
from ..fakes.e2b import e2b_session

pytestmark = pytest.mark.django_db(transaction=True)

Status = SandboxSession.Status
APP = "src/App.tsx"


@pytest.fixture
def listed(alice, bob, starter) -> dict[str, SandboxSession]:
    def make(owner, name, status, backend="local"):
        return SandboxSession.objects.create(
            owner=owner, manifest=starter, name=name, status=status, backend=backend
        )

    return {
        "running": make(alice, "alice running local", Status.RUNNING),
        "paused": make(alice, "alice paused local", Status.PAUSED),
        "creating": make(alice, "alice creating e2b", Status.CREATING, "e2b"),
        "e2b": make(alice, "alice running e2b", Status.RUNNING, "e2b"),
        "stopped": make(alice, "alice stopped local", Status.STOPPED),
        "failed": make(alice, "alice failed local", Status.FAILED),
        "bob": make(bob, "bob running local", Status.RUNNING),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"running", "paused", "creating", "e2b"}),
        ("?status=live", {"running", "paused", "creating", "e2b"}),
        ("?status=paused", {"paused"}),
        ("?backend=local", {"running", "paused"}),
        ("?backend=e2b", {"creating", "e2b"}),
        ("?status=all", {"running", "paused", "creating", "e2b", "stopped", "failed"}),
        ("?status=stopped&backend=local", {"stopped"}),
        ("?status=running&backend=e2b", {"e2b"}),
    ],
)
def test_the_session_list_filters_by_status_and_backend(client, alice, listed, query, expected):
    response = login(client, alice).get(reverse("session_list") + query)

    assert response.status_code == 200
    assert {s.pk for s in response.context["sessions"]} == {listed[k].pk for k in expected}
    page = response.content.decode()
    for key, session in listed.items():
        assert (session.name in page) is (key in expected), (key, query)
        checkbox = f'name="session" value="{session.pk}"'
        assert (checkbox in page) is (key in expected and key != "stopped"), (key, query)


async def test_bulk_shutdown_stops_the_selected_sessions_of_their_owner_only(
    async_client, alice, bob, starter
):
    first = await start_local_session(alice, starter)
    second = await start_local_session(alice, starter)
    spared = await start_local_session(alice, starter)
    bobs = await start_local_session(bob, starter)
    try:
        await async_client.aforce_login(alice)
        response = await async_client.post(
            reverse("session_bulk_shutdown"),
            {"session": [str(first.pk), str(second.pk), str(bobs.pk), "nonsense"]},
        )

        assert response.status_code == 302
        assert response.url == reverse("session_list")
        for session in (first, second):
            await session.arefresh_from_db()
            assert session.status == Status.STOPPED
            assert not os.path.exists(session.workspace_root)
        for session in (spared, bobs):
            await session.arefresh_from_db()
            assert session.status == Status.RUNNING
            assert os.path.isfile(os.path.join(session.workspace_root, APP))
        page = (await async_client.get(reverse("session_list"))).content.decode()
        assert "Shut down 2 sandboxes." in page
    finally:
        for session in (spared, bobs):
            shutil.rmtree(session.workspace_root, ignore_errors=True)


async def test_another_user_gets_404_on_pause_resume_and_extend(
    async_client, alice, bob, starter, cloud
):
    running = await e2b_session(alice, starter, name="running")
    paused = await e2b_session(alice, starter, name="paused")
    await services.session_pause(session=paused)
    await paused.arefresh_from_db()
    seen = (list(cloud.connects), list(cloud.pauses), list(cloud.timeouts))
    before = {s.pk: (s.status, s.sdk_state, s.timeout_at) for s in (running, paused)}

    await async_client.aforce_login(bob)
    for name, session in [
        ("session_pause", running),
        ("session_extend", running),
        ("session_resume", paused),
    ]:
        response = await async_client.post(reverse(name, args=[session.pk]), {"minutes": "30"})
        assert response.status_code == 404, name

    for session in (running, paused):
        await session.arefresh_from_db()
        assert (session.status, session.sdk_state, session.timeout_at) == before[session.pk]
    assert (cloud.connects, cloud.pauses, cloud.timeouts) == seen


@pytest.mark.parametrize("endpoint", ["session_extend", "session_bulk_shutdown"])
async def test_superscript_digits_are_bad_input_not_a_server_error(
    async_client, alice, starter, cloud, endpoint
):
    session = await e2b_session(alice, starter)
    await async_client.aforce_login(alice)
    if endpoint == "session_extend":
        url, data = reverse(endpoint, args=[session.pk]), {"minutes": "²"}
    else:
        url, data = reverse(endpoint), {"session": ["²", str(session.pk)]}

    response = await async_client.post(url, data)

    assert response.status_code == 302


@pytest.mark.django_db
def test_with_every_sandbox_ended_the_list_says_none_is_live(client, alice, alice_session):
    alice_session.status = SandboxSession.Status.STOPPED
    alice_session.save()
    page = login(client, alice).get(reverse("session_list")).content.decode()
    assert "No live sandboxes" in page and "No sandboxes yet" not in page
    assert alice_session.name in client.get(reverse("session_list") + "?status=").content.decode()
