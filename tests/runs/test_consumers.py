"""The run websocket: who may connect, and exactly-once delivery across reconnects."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application
from runs.event_log import EventLog
from runs.models import Run, RunEvent

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def connect(run_id: int, cookie: bytes | None = None) -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def assert_refused(communicator) -> None:
    """Refused sockets are accepted then closed with 4403, so the page can say why."""
    message = await communicator.receive_output(timeout=2)
    assert message == {"type": "websocket.close", "code": 4403}
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
    assert await communicator.receive_nothing(timeout=0.2)


async def receive_seqs(communicator, count: int) -> list[int]:
    seqs: list[int] = []
    while len(seqs) < count:
        message = json.loads(await communicator.receive_from(timeout=3))
        seqs += [event["seq"] for event in message["events"]]
    return seqs


@pytest.fixture
async def run(alice, starter):
    from sandboxes.models import SandboxSession

    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="s", status="running"
    )
    return await Run.objects.acreate(owner=alice, session=session, config={}, prompt="p")


async def emit(run, n: int) -> None:
    log = EventLog(run)
    for i in range(n):
        await log.emit("note", {"text": f"event {i}"})


async def test_anonymous_is_refused(run):
    await emit(run, 1)
    communicator, _ = await connect(run.pk)
    await assert_refused(communicator)


async def test_another_user_is_refused(run, bob):
    await emit(run, 1)
    communicator, _ = await connect(run.pk, await cookie_for(bob))
    await assert_refused(communicator)


async def test_a_foreign_origin_is_refused(run, alice):
    communicator = WebsocketCommunicator(
        application,
        f"/ws/runs/{run.pk}/",
        headers=[(b"origin", b"http://evil.example"), (b"cookie", await cookie_for(alice))],
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_the_owner_gets_the_log_then_live_events(run, alice):
    await emit(run, 3)
    communicator, connected = await connect(run.pk, await cookie_for(alice))
    assert connected
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
    assert await receive_seqs(communicator, 3) == [1, 2, 3]
    await emit(run, 2)
    assert await receive_seqs(communicator, 2) == [4, 5]
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_a_reconnect_gets_exactly_the_missing_events(run, alice):
    cookie = await cookie_for(alice)
    await emit(run, 4)
    first, _ = await connect(run.pk, cookie)
    await first.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
    assert await receive_seqs(first, 4) == [1, 2, 3, 4]
    await first.disconnect()

    await emit(run, 3)  # while the client is away
    second, _ = await connect(run.pk, cookie)
    await emit(run, 1)  # after connecting, before the client says where it is
    await second.send_to(text_data=json.dumps({"type": "resume", "after": 4}))
    assert await receive_seqs(second, 4) == [5, 6, 7, 8]
    await emit(run, 1)
    assert await receive_seqs(second, 1) == [9]
    assert await second.receive_nothing(timeout=0.2)
    await second.disconnect()


async def test_events_carry_html_fragments_for_the_page(run, alice):
    await EventLog(run).emit("tool_call", {"call": "c1", "tool": "exec_command", "command": "ls"})
    communicator, _ = await connect(run.pk, await cookie_for(alice))
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
    message = json.loads(await communicator.receive_from())
    html = message["events"][0]["html"]
    assert f'hx-swap-oob="beforeend:#run-{run.pk}-log"' in html
    assert "$</span> ls" in html
    await communicator.disconnect()


async def test_bad_resume_messages_get_an_error_not_a_crash(run, alice):
    communicator, _ = await connect(run.pk, await cookie_for(alice))
    await communicator.send_to(text_data="not json")
    assert "error" in json.loads(await communicator.receive_from())
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
    assert await communicator.receive_nothing(timeout=0.2)  # nothing stored yet
    await emit(run, 1)
    assert await receive_seqs(communicator, 1) == [1]
    await communicator.disconnect()
    assert await RunEvent.objects.filter(run=run).acount() == 1
