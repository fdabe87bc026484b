"""The in-process task backend really runs tasks: on the server's loop (the default), or on
their own loop in a thread, their broadcasts reaching the sockets the server's loop serves."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async

from lib import task_backends
from lib.task_backends import ServerLoopBackend
from runs.models import Run, RunEvent
from sandboxes import services
from sandboxes.models import SandboxSession
from sandboxes.tasks import session_start_task
from tests.helpers import config

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


@pytest.fixture
async def tasks_loop(settings):
    """TASKS_LOOP=thread: tasks on their own loop in a thread, this test's loop serving."""
    settings.TASKS_LOOP = "thread"
    task_backends._server_loop = asyncio.get_running_loop()
    yield
    task_backends._server_loop = None


async def test_tasks_run_off_the_loop_that_serves(tasks_loop):
    where: dict = {}

    async def probe():
        where["loop"] = asyncio.get_running_loop()
        where["thread"] = threading.current_thread().name

    future = asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(probe(), task_backends._loop_for_tasks())
    )
    await asyncio.wait_for(future, 5)
    assert where["loop"] is not asyncio.get_running_loop()
    assert where["thread"] == "tasks-loop"


async def test_a_run_on_the_tasks_loop_streams_every_event_once_to_the_served_socket(
    tasks_loop, alice, starter
):
    from runs import services as run_services
    from tests.runs.test_consumers import connect, cookie_for

    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="t", status="creating"
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    run = await sync_to_async(run_services.run_start)(
        owner=alice, session=session, config=config(), prompt="A page for a bakery"
    )
    communicator, connected = await connect(run.pk, await cookie_for(alice))
    assert connected
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
    seqs: list[int] = []
    finished = False
    while not finished:
        message = json.loads(await communicator.receive_from(timeout=30))
        for event in message["events"]:
            seqs.append(event["seq"])
            finished = finished or "data-run-finished" in event["html"]
    await run.arefresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    stored = [e.seq async for e in RunEvent.objects.filter(run=run).order_by("seq")]
    assert seqs == stored
    await communicator.disconnect()
    await services.session_shutdown(session=session)
