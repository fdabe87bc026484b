"""A catch-up that always fits: a long stored log goes out in messages bounded by bytes, and a
client that resumes anywhere, mid-batch included, gets every event once and in order."""

import json

import pytest
from django.conf import settings

from runs.event_log import EventLog
from runs.models import Run, RunEvent
from tests.helpers import long_log
from tests.runs.test_consumers import connect, cookie_for

pytestmark = pytest.mark.django_db(transaction=True)

DAPHNE_FRAME_LIMIT = 1024 * 1024


@pytest.fixture
async def run(alice, starter):
    from sandboxes.models import SandboxSession

    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="s", status="running"
    )
    return await Run.objects.acreate(owner=alice, session=session, config={}, prompt="p")


@pytest.fixture
async def five_mb_run(run):
    events = long_log(run.pk, steps=250, output_lines=250)
    await RunEvent.objects.abulk_create(events, batch_size=200)
    return run, len(events)


async def receive_until(communicator, last_seq: int) -> tuple[list[int], list[int]]:
    """The seqs received, in order, and each message's size in bytes, until last_seq."""
    seqs: list[int] = []
    sizes: list[int] = []
    while not seqs or seqs[-1] < last_seq:
        text = await communicator.receive_from(timeout=10)
        sizes.append(len(text.encode()))
        seqs += [event["seq"] for event in json.loads(text)["events"]]
    return seqs, sizes


async def resume(communicator, after: int) -> None:
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": after}))


async def test_a_5_mb_log_arrives_whole_in_messages_under_the_limit(five_mb_run, alice):
    run, count = five_mb_run
    stored = sum([len(json.dumps(e.payload)) async for e in RunEvent.objects.filter(run=run)])
    assert stored > 5_000_000
    communicator, connected = await connect(run.pk, await cookie_for(alice))
    assert connected
    await resume(communicator, 0)
    seqs, sizes = await receive_until(communicator, count)
    assert seqs == list(range(1, count + 1))
    assert len(sizes) > 10
    assert max(sizes) <= settings.RUN_STREAM_BATCH_BYTES < DAPHNE_FRAME_LIMIT
    # Then live events, once each, right after the stored ones.
    await EventLog(run).emit("note", {"text": "live"})
    live, _ = await receive_until(communicator, count + 1)
    assert live == [count + 1]
    await communicator.disconnect()


async def test_the_batch_size_is_a_setting(five_mb_run, alice, settings):
    settings.RUN_STREAM_BATCH_BYTES = 50_000
    run, count = five_mb_run
    communicator, _ = await connect(run.pk, await cookie_for(alice))
    await resume(communicator, 0)
    seqs, sizes = await receive_until(communicator, count)
    assert seqs == list(range(1, count + 1))
    assert max(sizes) <= 50_000
    await communicator.disconnect()


async def test_a_client_resuming_mid_batch_gets_no_gap_and_no_duplicate(five_mb_run, alice):
    run, count = five_mb_run
    cookie = await cookie_for(alice)
    first, _ = await connect(run.pk, cookie)
    await resume(first, 0)
    batch = [e["seq"] for e in json.loads(await first.receive_from(timeout=10))["events"]]
    second_batch = [e["seq"] for e in json.loads(await first.receive_from(timeout=10))["events"]]
    await first.disconnect()  # dropped during the catch-up
    assert len(second_batch) > 2
    # The page applied part of the second batch when it dropped: it resumes from there.
    after = second_batch[len(second_batch) // 2]
    assert batch[-1] < after < second_batch[-1]
    again, _ = await connect(run.pk, cookie)
    await resume(again, after)
    seqs, _ = await receive_until(again, count)
    assert seqs == list(range(after + 1, count + 1))
    assert await again.receive_nothing(timeout=0.3)
    await again.disconnect()


async def test_one_event_over_the_batch_size_still_goes_out_alone(run, alice, settings):
    settings.RUN_STREAM_BATCH_BYTES = 1_000
    log = EventLog(run)
    await log.emit("note", {"text": "small"})
    await log.emit("note", {"text": "big " * 1_000})
    await log.emit("note", {"text": "small again"})
    communicator, _ = await connect(run.pk, await cookie_for(alice))
    await resume(communicator, 0)
    messages = [json.loads(await communicator.receive_from(timeout=3)) for _ in range(3)]
    assert [[e["seq"] for e in m["events"]] for m in messages] == [[1], [2], [3]]
    await communicator.disconnect()
