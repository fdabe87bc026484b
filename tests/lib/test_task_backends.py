"""The in-process task backend really runs tasks, on the loop the server serves on."""

import asyncio

import pytest

from lib import task_backends
from lib.task_backends import ServerLoopBackend
from sandboxes import services
from sandboxes.models import SandboxSession
from sandboxes.tasks import session_start_task

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_server_loop_backend_runs_tasks_on_the_server_loop(alice, starter):
    """session_create's background start really runs, on the loop daphne serves on."""
    session = await SandboxSession.objects.acreate(owner=alice, manifest=starter, name="t")
    task_backends._server_loop = asyncio.get_running_loop()
    try:
        result = session_start_task.enqueue(session.pk)
        assert result.backend == "default"
        for _ in range(200):
            await asyncio.sleep(0.05)
            await session.arefresh_from_db()
            if session.status != "creating":
                break
    finally:
        task_backends._server_loop = None
    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    await services.session_shutdown(session=session)
    assert isinstance(session_start_task.get_backend(), ServerLoopBackend)
