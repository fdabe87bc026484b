"""Nothing stays running forever; the in-process task backend really runs tasks."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Run, RunEvent
from runs.reaper import reap_stale_runs
from runs.task_backends import ServerLoopBackend
from sandboxes import services
from sandboxes.models import SandboxSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def session(alice, starter):
    return await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="s", status="running"
    )


async def test_a_run_with_a_stale_heartbeat_becomes_interrupted(session, settings):
    settings.RUN_STALE_SECONDS = 60
    old = timezone.now() - timedelta(seconds=120)
    stale = await Run.objects.acreate(
        owner_id=session.owner_id,
        session=session,
        prompt="p",
        status="running",
        started_at=old,
        heartbeat_at=old,
    )
    fresh = await Run.objects.acreate(
        owner_id=session.owner_id,
        session=session,
        prompt="p",
        status="running",
        started_at=old,
        heartbeat_at=timezone.now(),
    )
    assert await reap_stale_runs() == 1
    await stale.arefresh_from_db()
    await fresh.arefresh_from_db()
    assert stale.status == Run.Status.INTERRUPTED
    assert "No heartbeat" in stale.error
    assert fresh.status == Run.Status.RUNNING
    event = await RunEvent.objects.aget(run=stale)
    assert event.payload["status"] == "interrupted"


async def test_the_server_loop_backend_runs_tasks_on_the_server_loop(alice, starter):
    """session_create's background start really runs, on the loop daphne serves on."""
    import runs.task_backends as module
    from sandboxes.tasks import start_session

    session = await SandboxSession.objects.acreate(owner=alice, manifest=starter, name="t")
    module._server_loop = asyncio.get_running_loop()
    try:
        result = start_session.enqueue(session.pk)
        assert result.backend == "default"
        for _ in range(200):
            await asyncio.sleep(0.05)
            await session.arefresh_from_db()
            if session.status != "creating":
                break
    finally:
        module._server_loop = None
    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    await services.session_shutdown(session=session)
    assert isinstance(start_session.get_backend(), ServerLoopBackend)
