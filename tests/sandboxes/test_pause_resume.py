"""Pause, resume and extend: E2B (faked, tests/fakes/e2b.py, its `cloud` recording pause, kill
and set_timeout) and local sessions, whose previews and processes are real.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from lib.secrets import is_sealed, seal, unseal
from runs.models import Run
from runs.services import RunRefused, run_start
from sandboxes import services
from sandboxes.models import Preview, SandboxSession

from ..fakes.e2b import e2b_session, form_data
from ..fakes.previews import answers, new_preview, refused, wait_for_status, wait_until_gone
from ..helpers import config, execute

pytestmark = pytest.mark.django_db(transaction=True)

Status = SandboxSession.Status
SECRET = "tok-" + "9c1e47ab" * 4
APP = "src/App.tsx"


def read(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def database_dump() -> str:
    """Every row of every table, as SQL text."""
    connection.ensure_connection()
    return "\n".join(connection.connection.iterdump())


def assert_about(moment, expected, slack: float = 5) -> None:
    assert moment is not None
    assert abs((moment - expected).total_seconds()) <= slack, (moment, expected)


# --- E2B, faked -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_timeout", "auto_resume", "lifecycle"),
    [
        ("pause", None, {"on_timeout": "pause", "auto_resume": False}),  # unchecked
        ("pause", "on", {"on_timeout": "pause", "auto_resume": True}),
        ("kill", "on", {"on_timeout": "kill"}),  # E2B: auto_resume only applies to pause
    ],
)
async def test_the_form_s_lifecycle_metadata_and_envs_reach_e2b_and_envs_are_sealed(
    async_client, alice, starter, cloud, e2b_http, enqueued, on_timeout, auto_resume, lifecycle
):
    envs = {"API_TOKEN": SECRET, "REGION": "mars-north-7"}
    await async_client.aforce_login(alice)
    response = await async_client.post(
        reverse("session_create", args=[starter.pk]),
        form_data(
            timeout="600",
            on_timeout=on_timeout,
            auto_resume=auto_resume,
            metadata="team=web\n owner = alice \n\n",
            envs=f"API_TOKEN={SECRET}\nREGION=mars-north-7\n",
        ),
    )
    assert response.status_code == 302
    session = await SandboxSession.objects.aget(owner=alice)
    assert enqueued == [(session.pk,)]
    assert session.options["on_timeout"] == on_timeout
    assert session.options["auto_resume"] is (auto_resume == "on")
    assert session.options["metadata"] == {"team": "web", "owner": "alice"}
    assert is_sealed(session.options["envs"])
    assert unseal(session.options["envs"]) == envs

    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()

    assert session.status == Status.RUNNING, session.last_error
    [(_, received)] = cloud.creates
    assert received["envs"] == envs
    assert received["metadata"] == {"team": "web", "owner": "alice"}
    assert received["lifecycle"] == lifecycle
    assert received["timeout"] == 600
    state = session.sdk_state
    assert is_sealed(state["base_envs"])
    assert unseal(state["base_envs"]) == envs
    assert (state["on_timeout"], state["auto_resume"]) == (on_timeout, auto_resume == "on")
    assert state["metadata"] == {"team": "web", "owner": "alice"}
    # Nowhere in the database in clear: not in the options, not in the SDK state, not anywhere.
    dump = await sync_to_async(database_dump)()
    assert "sealed:" in dump
    assert SECRET not in dump
    assert "mars-north-7" not in dump
    assert SECRET not in json.dumps([session.options, session.sdk_state])
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=600))
    assert e2b_http.requests == []


async def test_pause_pauses_the_e2b_sandbox_and_resume_reconnects_to_the_same_one(
    alice, starter, cloud
):
    session = await e2b_session(alice, starter, envs=seal({"API_TOKEN": SECRET}))
    sandbox = cloud.only_sandbox()
    assert session.timeout_at is not None

    await services.session_pause(session=session)
    await session.arefresh_from_db()

    assert session.status == Status.PAUSED
    assert session.timeout_at is None
    assert sandbox.status == "paused"
    assert cloud.pauses == [sandbox.sandbox_id]
    assert cloud.kills == []
    assert session.sdk_state["sandbox_id"] == sandbox.sandbox_id
    # The state stored again after the pause keeps the envs sealed.
    assert is_sealed(session.sdk_state["base_envs"])
    assert unseal(session.sdk_state["base_envs"]) == {"API_TOKEN": SECRET}

    connects = len(cloud.connects)
    await services.session_resume(session=session)
    await session.arefresh_from_db()

    assert session.status == Status.RUNNING, session.last_error
    assert session.last_error == ""
    assert cloud.connects[connects:] == [sandbox.sandbox_id]
    assert len(cloud.creates) == 1  # the same sandbox, never a new one
    assert session.sdk_state["sandbox_id"] == sandbox.sandbox_id
    assert unseal(session.sdk_state["base_envs"]) == {"API_TOKEN": SECRET}
    assert SECRET not in json.dumps(session.sdk_state)
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=600))
    # Its files are the ones it was paused with.
    entry = await starter.entries.aget(path=APP)
    async with services.sandbox_attached(session) as sdk_session:
        content = (await sdk_session.read(Path(APP))).read()
    assert content == entry.content.encode()
    assert cloud.kills == []


async def test_after_pause_and_resume_the_e2b_sandbox_runs_and_keeps_its_pause_on_exit(
    alice, starter, cloud
):
    session = await e2b_session(alice, starter, pause_on_exit=False)
    sandbox = cloud.only_sandbox()

    await services.session_pause(session=session)
    await services.session_resume(session=session)
    await session.arefresh_from_db()

    assert session.status == Status.RUNNING
    assert session.sdk_state["pause_on_exit"] is False
    assert sandbox.status == "running"
    assert cloud.pauses == [sandbox.sandbox_id]  # the pause asked for, and no other


async def test_extend_sets_the_sandbox_s_timeout_and_the_session_s_deadline(alice, starter, cloud):
    session = await e2b_session(alice, starter)
    sandbox = cloud.only_sandbox()
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=600))

    await services.session_extend(session=session, seconds=1800)
    await session.arefresh_from_db()

    assert cloud.timeouts == [(sandbox.sandbox_id, 1800)]
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=1800))
    assert session.status == Status.RUNNING
    assert len(cloud.creates) == 1


async def test_a_paused_session_refuses_runs(alice, starter, cloud):
    session = await e2b_session(alice, starter)
    await services.session_pause(session=session)

    with pytest.raises(RunRefused, match="paused"):
        await sync_to_async(run_start)(
            owner=alice, session=session, config=config(), prompt="Build the page"
        )
    assert not await Run.objects.aexists()
    with pytest.raises(services.SessionNotReady, match="paused"):
        await services.session_extend(session=session, seconds=600)
    assert cloud.timeouts == []


@pytest.mark.parametrize("run_status", [Run.Status.QUEUED, Run.Status.RUNNING])
async def test_pause_while_a_run_is_active_is_refused_and_changes_nothing(
    alice, starter, cloud, run_status
):
    session = await e2b_session(alice, starter)
    sandbox = cloud.only_sandbox()
    run = await Run.objects.acreate(
        owner=alice,
        session=session,
        config=config(),
        prompt="p",
        status=run_status,
        heartbeat_at=timezone.now(),
    )
    before = (session.status, session.sdk_state, session.timeout_at)
    connects = list(cloud.connects)

    with pytest.raises(services.SessionBusy):
        await services.session_pause(session=session)

    await session.arefresh_from_db()
    await run.arefresh_from_db()
    assert (session.status, session.sdk_state, session.timeout_at) == before
    assert sandbox.status == "running"
    assert cloud.pauses == [] and cloud.kills == []
    assert cloud.connects == connects  # not even attached
    assert run.status == run_status


# --- local sessions: pause and resume -------------------------------------------------------------


async def test_pausing_a_local_session_stops_its_previews_keeps_its_workspace_and_resume_runs(
    alice, local_session, supervisor
):
    root = local_session.workspace_root
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("kept across a pause\n")
    preview = await new_preview(local_session)
    supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)
    url, group = preview.upstream_url, preview.pid
    assert await answers(url) == 200

    await services.session_pause(session=local_session)
    await local_session.arefresh_from_db()
    await preview.arefresh_from_db()

    assert local_session.status == Status.PAUSED
    assert preview.status == Preview.Status.STOPPED
    assert await wait_until_gone(group) == []
    assert await refused(url)
    assert local_session.workspace_root == root
    assert read(os.path.join(root, "notes.txt")) == "kept across a pause\n"
    assert os.path.isfile(os.path.join(root, APP))
    with pytest.raises(RunRefused, match="paused"):
        await sync_to_async(run_start)(
            owner=alice, session=local_session, config=config(), prompt="x"
        )

    await services.session_resume(session=local_session)
    await local_session.arefresh_from_db()
    assert local_session.status == Status.RUNNING, local_session.last_error
    assert local_session.last_error == ""

    run = await execute(local_session, "A violet page for a resumed sandbox", model="demo")
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert "A violet page for a resumed sandbox" in read(os.path.join(root, APP))
    assert read(os.path.join(root, "notes.txt")) == "kept across a pause\n"


# --- through the page -----------------------------------------------------------------------------


async def test_extend_through_the_page_sets_the_timeout(async_client, alice, starter, cloud):
    session = await e2b_session(alice, starter)
    sandbox = cloud.only_sandbox()
    await async_client.aforce_login(alice)

    response = await async_client.post(
        reverse("session_extend", args=[session.pk]), {"minutes": "30"}
    )

    assert response.status_code == 302
    assert response.url == session.get_absolute_url()
    assert cloud.timeouts == [(sandbox.sandbox_id, 1800)]
    await session.arefresh_from_db()
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=1800))
    page = (await async_client.get(session.get_absolute_url())).content.decode()
    assert "Timeout set to 30 min from now." in page


@pytest.mark.parametrize("minutes", ["0", "1441", "-5", "1.5", "abc", "", "99999999999"])
async def test_extend_with_bad_minutes_shows_an_error_and_changes_nothing(
    async_client, alice, starter, cloud, minutes
):
    session = await e2b_session(alice, starter)
    before = (session.status, session.sdk_state, session.timeout_at)
    connects = list(cloud.connects)
    await async_client.aforce_login(alice)

    response = await async_client.post(
        reverse("session_extend", args=[session.pk]), {"minutes": minutes}
    )

    assert response.status_code == 302
    assert response.url == session.get_absolute_url()
    page = (await async_client.get(session.get_absolute_url())).content.decode()
    assert "Give 1 to 1440 minutes." in page
    assert "Timeout set to" not in page
    await session.arefresh_from_db()
    assert (session.status, session.sdk_state, session.timeout_at) == before
    assert cloud.timeouts == []
    assert cloud.connects == connects
