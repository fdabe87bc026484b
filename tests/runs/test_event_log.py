"""The run event log's writes (runs/event_log.py): every event stored once, with a gapless seq,
as the log's readers (pages, exports, catch-up) read it back; two writers on one run, as when an
approval is decided in another process, never take the same seq."""

import datetime

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError

from runs.event_log import EventLog, insert_event
from runs.models import Run, RunEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def run(alice, starter):
    from sandboxes.models import SandboxSession

    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="s", status="running"
    )
    return await Run.objects.acreate(owner=alice, session=session, config={}, prompt="p")


async def test_an_event_reads_back_as_it_was_emitted(run):
    payload = {"text": "héllo ✓", "lines": ["a", "b"], "nested": {"n": 1, "none": None}}
    emitted = await EventLog(run).emit("message", dict(payload))

    stored = await RunEvent.objects.aget(pk=emitted.pk)
    assert (stored.run_id, stored.seq, stored.kind, stored.payload) == (
        run.pk,
        1,
        "message",
        payload,
    )
    assert stored.created_at == emitted.created_at
    # What emit returns is that stored row, as the ORM would read it back.
    fields = [field.attname for field in RunEvent._meta.concrete_fields]
    assert [getattr(emitted, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert not emitted._state.adding and emitted._state.db == stored._state.db
    assert stored.created_at.tzinfo is not None
    assert abs(stored.created_at - datetime.datetime.now(datetime.UTC)).total_seconds() < 60


async def test_two_writers_on_one_run_take_turns_without_a_gap_or_a_repeat(run):
    mine, theirs = EventLog(run), EventLog(run)
    await mine.emit("note", {"text": "1"})
    await theirs.emit("note", {"text": "2"})  # reads the log's last seq: 1
    await mine.emit("note", {"text": "3"})  # still thinks 1 is the last: 2 is taken, tries 3
    await theirs.emit("note", {"text": "4"})

    stored = [(e.seq, e.payload["text"]) async for e in RunEvent.objects.filter(run=run)]
    assert stored == [(1, "1"), (2, "2"), (3, "3"), (4, "4")]


async def test_a_seq_already_taken_is_refused_and_the_stored_event_is_kept(run):
    await insert_event(run.pk, 1, "note", {"text": "first"})
    with pytest.raises(IntegrityError):
        await insert_event(run.pk, 1, "note", {"text": "second"})
    assert [e.payload async for e in RunEvent.objects.filter(run=run)] == [{"text": "first"}]


async def test_a_runs_events_are_read_and_deleted_by_index(run):
    """The (run, seq) constraint's index is the only one on the run column (one index fewer to
    write per event), and both reading a run's log in order and the cascade when a run is
    deleted use it, not a scan of every run's events."""
    from django.db import connection

    await EventLog(run).emit("note", {"text": "one"})
    constraints = await sync_to_async(_constraints)(connection, RunEvent._meta.db_table)
    indexed = [c for c in constraints.values() if c["index"] or c["unique"]]
    assert [c["columns"] for c in indexed if c["columns"][0] == "run_id"] == [["run_id", "seq"]]
    log_plan = await RunEvent.objects.filter(run_id=run.pk).order_by("seq").aexplain()
    cascade_plan = await RunEvent.objects.filter(run_id__in=[run.pk]).aexplain()
    for plan in (log_plan, cascade_plan):
        assert "SEARCH runs_runevent USING INDEX" in plan, plan


def _constraints(connection, table: str) -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, table)
