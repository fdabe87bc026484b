"""Local sandboxes belong to one machine (settings.HOST_ID): processes on another refuse to
use them with a clear message, and no reaper there takes them for dead."""

from __future__ import annotations

import pytest

from runs.models import Run
from sandboxes.hosts import OnAnotherMachine
from sandboxes.models import Preview, SandboxSession
from sandboxes.previews import preview_boot, preview_check
from sandboxes.reaper import reap_sessions
from sandboxes.services import session_shutdown
from sandboxes.workspace import check_available

from ..fakes.proxy import get, make_preview, owner_cookie
from ..helpers import execute

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def on_another_machine(settings):
    """What a process on another machine sees: the same rows, another HOST_ID."""

    def move():
        settings.HOST_ID = "machine-b"

    return move


async def test_a_local_sandbox_records_the_machine_that_started_it(local_session, settings):
    assert local_session.host == settings.HOST_ID
    assert not local_session.elsewhere


async def test_a_run_on_another_machines_sandbox_fails_with_the_reason_and_leaves_it_running(
    local_session, on_another_machine
):
    on_another_machine()
    run = await execute(local_session)

    assert run.status == Run.Status.FAILED
    assert "lives on machine" in run.error and "machine-b" in run.error
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.RUNNING  # fine on its own machine


async def test_another_machines_reaper_leaves_its_sandboxes_and_previews_alone(
    alice, starter, on_another_machine, settings
):
    theirs = await SandboxSession.objects.acreate(
        owner=alice,
        manifest=starter,
        name="theirs",
        status="running",
        host="machine-a",
        sdk_state={"type": "unix_local", "manifest": {"root": "/nonexistent/theirs"}},
    )
    ours = await SandboxSession.objects.acreate(
        owner=alice,
        manifest=starter,
        name="ours",
        status="running",
        host=settings.HOST_ID,
        sdk_state={"type": "unix_local", "manifest": {"root": "/nonexistent/ours"}},
    )
    preview = await Preview.objects.acreate(
        session=theirs, status=Preview.Status.READY, pid=999_999, upstream_url="http://x/"
    )

    assert await reap_sessions() == 1
    await theirs.arefresh_from_db()
    await ours.arefresh_from_db()
    assert theirs.status == SandboxSession.Status.RUNNING
    assert ours.status == SandboxSession.Status.STOPPED  # its folder is really gone
    preview = await Preview.objects.select_related("session").aget(pk=preview.pk)
    assert (await preview_check(preview=preview)).status == Preview.Status.READY


async def test_another_machine_refuses_its_workspace_preview_boot_and_shutdown(
    local_session, on_another_machine
):
    on_another_machine()
    with pytest.raises(Exception, match="lives on machine"):
        await check_available(local_session)
    with pytest.raises(OnAnotherMachine):
        await session_shutdown(session=local_session)
    preview = await Preview.objects.acreate(session=local_session)
    await preview_boot(preview_id=preview.pk)
    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.FAILED
    assert "lives on machine" in preview.error


async def test_another_machines_proxy_says_where_the_preview_runs(
    app, alice, upstream, on_another_machine, settings
):
    preview = await make_preview(alice, upstream.url)
    await SandboxSession.objects.filter(pk=preview.session_id).aupdate(host="machine-a")
    cookie = await owner_cookie(app, preview, alice)
    on_another_machine()

    response = await get(app, preview, cookie=cookie)

    assert response.status_code == 503
    assert "Preview on another machine" in response.text and "machine-a" in response.text
    assert upstream.seen == []


def test_with_db_workers_a_local_sandboxs_tasks_are_queued_for_its_machine(settings):
    from sandboxes.hosts import queue_for

    local = SandboxSession(backend="local", host="machine-a")
    settings.TASKS_MODE = "db"
    assert queue_for(local) == "host-machine-a"
    assert queue_for(SandboxSession(backend="local")) == "default"  # not started yet: any
    assert queue_for(SandboxSession(backend="e2b", host="machine-a")) == "default"
    assert queue_for(None) == "default"
    settings.TASKS_MODE = "server"  # one process: its loop runs everything
    assert queue_for(local) == "default"
