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


async def publish_together(run, seqs: list[int]) -> None:
    """Broadcast stored events as the event log does, one after another with no pause between
    them (as a model's response and the tool call it made are)."""
    from channels.layers import get_channel_layer

    from runs.event_log import MESSAGE_TYPE, encoded_event

    layer = get_channel_layer()
    events = {e.seq: e async for e in RunEvent.objects.filter(run=run, seq__in=seqs)}
    for seq in seqs:
        message = {"type": MESSAGE_TYPE, "seq": seq, "json": encoded_event(events[seq])}
        await layer.group_send(run.group_name, message)


async def store(run, first: int, last: int, text: str = "event") -> None:
    await RunEvent.objects.abulk_create(
        RunEvent(run=run, seq=seq, kind="note", payload={"text": f"{text} {seq}"})
        for seq in range(first, last + 1)
    )


async def resumed(run, cookie: bytes, after: int = 0) -> WebsocketCommunicator:
    communicator, _ = await connect(run.pk, cookie)
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": after}))
    assert await communicator.receive_nothing(timeout=0.2)  # the resume is handled: no log
    return communicator


async def message_seqs(communicator, count: int) -> list[list[int]]:
    """Each message's seqs, until `count` events have come."""
    messages: list[list[int]] = []
    while sum(map(len, messages)) < count:
        message = json.loads(await communicator.receive_from(timeout=3))
        messages.append([event["seq"] for event in message["events"]])
    return messages


async def test_live_events_that_come_together_reach_the_client_in_one_message(run, alice):
    communicator = await resumed(run, await cookie_for(alice))
    await store(run, 1, 3)
    await publish_together(run, [1, 2, 3])
    assert await message_seqs(communicator, 3) == [[1, 2, 3]]
    await store(run, 4, 4)
    await publish_together(run, [4])  # one alone goes alone
    assert await message_seqs(communicator, 1) == [[4]]
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_a_burst_with_a_gap_or_a_repeat_still_gives_each_event_once_in_order(run, alice):
    communicator = await resumed(run, await cookie_for(alice))
    await store(run, 1, 5)
    # 2 and 4 were stored but never heard (a broadcast lost while Redis restarted, say), and 3
    # is heard twice: the client gets 1..5, each once.
    await publish_together(run, [1, 3, 3, 5])
    messages = await message_seqs(communicator, 5)
    assert [seq for message in messages for seq in message] == [1, 2, 3, 4, 5]
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_a_burst_bigger_than_the_batch_size_is_split(run, alice, settings):
    settings.RUN_STREAM_BATCH_BYTES = 1_000
    communicator = await resumed(run, await cookie_for(alice))
    await store(run, 1, 6, text="x" * 300)
    await publish_together(run, [1, 2, 3, 4, 5, 6])
    messages = await message_seqs(communicator, 6)
    assert [seq for message in messages for seq in message] == [1, 2, 3, 4, 5, 6]
    assert len(messages) > 1
    assert all(len(message) < 6 for message in messages)
    await communicator.disconnect()
