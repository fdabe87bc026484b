"""The embedded default's in-memory channel layer (lib/channel_layers.py): what a consumer of
channels' own InMemoryChannelLayer relies on still holds with its cheaper group_send."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.exceptions import ChannelFull

from lib import channel_layers, task_backends
from lib.channel_layers import ServerLoopChannelLayer

# No database is used; the mark only makes pytest-django run these with the database tests,
# before the browser tests: Playwright's sync API leaves its event loop marked as running in the
# main thread while its session-scoped browser lives, and an async test after it cannot start.
pytestmark = pytest.mark.django_db


async def test_a_group_send_reaches_every_member_once_in_order_and_leavers_hear_nothing():
    layer = ServerLoopChannelLayer()
    a, b, gone = [await layer.new_channel() for _ in range(3)]
    for channel in (a, b, gone):
        await layer.group_add("run-1", channel)
    await layer.group_add("run-2", b)
    await layer.group_discard("run-1", gone)
    for seq in (1, 2, 3):
        await layer.group_send("run-1", {"type": "run.event", "seq": seq})
    await layer.group_send("run-2", {"type": "run.event", "seq": 99})

    assert [(await layer.receive(a))["seq"] for _ in range(3)] == [1, 2, 3]
    assert [(await layer.receive(b))["seq"] for _ in range(4)] == [1, 2, 3, 99]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await layer.receive(gone)


async def test_members_get_their_own_copy_of_a_message():
    layer = ServerLoopChannelLayer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", a)
    await layer.group_add("g", b)
    message = {"type": "run.event", "seq": 1}
    await layer.group_send("g", message)
    first = await layer.receive(a)
    first["seq"] = 1000  # one consumer changing its message
    message["seq"] = 2000  # or the sender reusing its dict
    assert (await layer.receive(b))["seq"] == 1


async def test_a_full_channel_misses_group_messages_but_a_direct_send_says_so():
    layer = ServerLoopChannelLayer(capacity=2)
    slow, fast = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", slow)
    await layer.group_add("g", fast)
    for seq in (1, 2, 3):
        await layer.group_send("g", {"type": "e", "seq": seq})
        assert (await layer.receive(fast))["seq"] == seq  # the other member is not held up
    assert [(await layer.receive(slow))["seq"] for _ in range(2)] == [1, 2]
    for seq in (1, 2):
        await layer.send(slow, {"type": "e", "seq": seq})
    with pytest.raises(ChannelFull):
        await layer.send(slow, {"type": "e", "seq": 3})


async def test_expired_messages_are_dropped_and_their_channel_leaves_its_groups(monkeypatch):
    layer = ServerLoopChannelLayer(expiry=0)
    stale = await layer.new_channel()
    await layer.group_add("g", stale)
    await layer.group_send("g", {"type": "e", "seq": 1})
    await asyncio.sleep(0.01)
    monkeypatch.setattr(channel_layers, "EXPIRY_SCAN_SECONDS", 0)
    await layer.group_send("g", {"type": "e", "seq": 2})  # the scan drops seq 1 and the member
    assert stale not in layer.groups.get("g", {})


async def test_a_channel_nobody_listens_to_is_dropped_and_one_listened_to_keeps_working(
    monkeypatch,
):
    layer = ServerLoopChannelLayer()
    left, listening = await layer.new_channel(), await layer.new_channel()
    for channel in (left, listening):
        await layer.send(channel, {"type": "e", "seq": 1})
        assert (await layer.receive(channel))["seq"] == 1
    waiting = asyncio.create_task(layer.receive(listening))  # a consumer awaiting its next one
    await asyncio.sleep(0)
    monkeypatch.setattr(channel_layers, "EXPIRY_SCAN_SECONDS", 0)
    await layer.group_send("g", {"type": "e", "seq": 0})  # a group_send runs the scan

    assert left not in layer.channels  # the consumer that left holds no queue
    await layer.send(listening, {"type": "e", "seq": 2})
    assert (await asyncio.wait_for(waiting, 1))["seq"] == 2
    await layer.send(left, {"type": "e", "seq": 3})  # a dropped channel gets a new queue
    assert (await layer.receive(left))["seq"] == 3


async def test_a_send_from_another_loops_thread_is_carried_out_on_the_server_loop(monkeypatch):
    layer = ServerLoopChannelLayer()
    monkeypatch.setattr(task_backends, "_server_loop", asyncio.get_running_loop())
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    loops = []

    def other_thread():
        async def send():
            await layer.group_send("g", {"type": "e", "seq": 7})
            loops.append(asyncio.get_running_loop())

        asyncio.run(send())

    thread = threading.Thread(target=other_thread)
    thread.start()
    message = await asyncio.wait_for(layer.receive(channel), 5)
    await asyncio.to_thread(thread.join)
    assert message["seq"] == 7
    assert loops and loops[0] is not asyncio.get_running_loop()


async def test_receive_ready_takes_what_is_queued_without_waiting(monkeypatch):
    layer = ServerLoopChannelLayer()
    monkeypatch.setattr(task_backends, "_server_loop", asyncio.get_running_loop())
    channel = await layer.new_channel()
    assert layer.receive_ready(channel) is None  # nothing queued: no wait, no message
    for seq in (1, 2, 3):
        await layer.send(channel, {"type": "e", "seq": seq})
    assert (await layer.receive(channel))["seq"] == 1
    assert [layer.receive_ready(channel)["seq"] for _ in range(2)] == [2, 3]
    assert layer.receive_ready(channel) is None

    # From another loop's thread it takes nothing: the queues belong to the server's loop.
    await layer.send(channel, {"type": "e", "seq": 4})
    elsewhere = []

    def other_thread():
        async def take():
            elsewhere.append(layer.receive_ready(channel))

        asyncio.run(take())

    thread = threading.Thread(target=other_thread)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert elsewhere == [None]
    assert (await layer.receive(channel))["seq"] == 4
