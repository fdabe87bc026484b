"""The run event log: append with a gapless seq, render as an HTML fragment, then publish.

The database is written before the broadcast, so a client that joins the group and then reads
the log can never miss an event: it is either in what it read or in what it hears next.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import IntegrityError, connections, router
from django.db.models import Max
from django.utils import timezone

from lib.errors import describe_error
from lib.loop_sqlite import execute_here

from .event_html import event_fragment
from .images import images_store
from .models import Run, RunEvent

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "run.event"


def render_event(event: RunEvent, *, readonly: bool = False) -> str:
    """The event as an HTML fragment; `readonly` (a shared run): without any control."""
    return event_fragment(event.run_id, event.seq, event.kind, event.payload, readonly=readonly)


def event_message(event: RunEvent) -> dict[str, Any]:
    return {"seq": event.seq, "html": render_event(event)}


def encoded_event(event: RunEvent) -> str:
    """The event as it goes out in a websocket message's "events" list: JSON text, encoded once
    per event however many viewers hear it."""
    return json.dumps(event_message(event))


WRITE_ATTEMPTS = 5

EVENT_COLUMNS = ("run", "seq", "kind", "payload", "created_at")  # what an INSERT sets
_CONCRETE_FIELDS = RunEvent._meta.concrete_fields  # a row's values, in this order


@functools.cache
def _insert_sql(alias: str) -> tuple[str, bool]:
    """RunEvent.objects.create's INSERT into database `alias` (with %s placeholders), and
    whether it returns the new id."""
    connection = connections[alias]
    meta = RunEvent._meta
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(meta.db_table),
        ", ".join(quote(meta.get_field(name).column) for name in EVENT_COLUMNS),
        ", ".join(["%s"] * len(EVENT_COLUMNS)),
    )
    returning = connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql, returning


def _insert_values(connection, run_id: int, seq: int, kind: str, payload, created_at) -> list:
    """The INSERT's parameters, as the model's fields would prepare them (get_db_prep_save:
    the foreign key, seq and kind go as they are; the payload through the backend's JSON
    adapter with the field's encoder; the time through its datetime adapter), without a
    model instance's per-field work (a third of what storing an event cost the loop)."""
    encoder = RunEvent._meta.get_field("payload").encoder
    return [
        run_id,
        seq,
        kind,
        connection.ops.adapt_json_value(payload, encoder),
        connection.ops.adapt_datetimefield_value(created_at),
    ]


def _insert_with_orm(alias: str, sql: str, values: list[Any], returning: bool) -> int:
    """The INSERT on Django's connection, in autocommit as create is (in the ORM's thread);
    the new id. Without the ORM's per-object work (signals, the query compiler)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if returning:
            return cursor.fetchone()[0]
        meta = RunEvent._meta
        return connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)


async def insert_event(run_id: int, seq: int, kind: str, payload: dict[str, Any]) -> RunEvent:
    """Store one event; a seq already taken raises IntegrityError (nothing is written).

    On an SQLite file, from this loop's own thread when the database is free
    (lib/loop_sqlite.py: the thread hop was most of what storing an event cost a run).
    Otherwise in the ORM's thread, chosen as for acreate but run in an empty context:
    sync_to_async copies the caller's contextvars into that thread and back after each call,
    and within a run there are a score of them (the SDK's, Django's); the insert needs none."""
    created_at = timezone.now()
    alias = router.db_for_write(RunEvent)
    sql, returning = _insert_sql(alias)
    connection = connections[alias]  # this thread's: values are prepared alike in any thread
    values = _insert_values(connection, run_id, seq, kind, payload, created_at)
    # Django's placeholders are %s, sqlite3's are ?; without RETURNING only the ORM has the id.
    row = execute_here(alias, sql.replace("%s", "?"), values) if returning else None
    if row:
        pk = row[0]
    else:
        call = sync_to_async(_insert_with_orm, context=contextvars.Context())
        pk = await call(alias, sql, values, returning)
    # As a row read back: no per-field defaults or lookups, saved (adding False) in `alias`.
    row = {"id": pk, "run_id": run_id, "seq": seq, "kind": kind, "payload": payload}
    row["created_at"] = created_at
    return RunEvent.from_db(alias, None, [row[field.attname] for field in _CONCRETE_FIELDS])


class EventLog:
    """Appends to one run's log. Usually one writer per run, the executor that owns it; while a
    run awaits approval, whoever decides (any process) writes, so a seq taken by another writer
    is detected by the unique (run, seq) constraint and the next one is tried."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._seq: int | None = None
        self._layer = get_channel_layer()
        self._publish_failed = False  # log one warning per outage, not one per event
        # A coordinator's lane tools write to its log while its stream does: one at a time.
        self._lock = asyncio.Lock()

    async def emit(self, kind: str, payload: dict[str, Any]) -> RunEvent:
        if images := payload.pop("_images", None):
            payload["images"] = await images_store(run_id=self.run.pk, images=images)
        async with self._lock:
            return await self._emit(kind, payload)

    async def _emit(self, kind: str, payload: dict[str, Any]) -> RunEvent:
        for attempt in range(WRITE_ATTEMPTS):
            if self._seq is None:
                last = await RunEvent.objects.filter(run_id=self.run.pk).aaggregate(m=Max("seq"))
                self._seq = last["m"] or 0
            try:
                event = await insert_event(self.run.pk, self._seq + 1, kind, payload)
            except IntegrityError:
                self._seq = None
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                continue
            self._seq += 1
            break
        await self._publish(event)
        return event

    async def _publish(self, event: RunEvent) -> None:
        """Broadcast a stored event. The log is the truth: a broadcast that fails (Redis
        restarting, say) never fails the run; viewers read what they missed from the log when
        they reconnect or hear the next event (runs/consumers.py fills gaps)."""
        if self._layer is None:
            return
        try:
            await self._layer.group_send(
                self.run.group_name,
                {"type": MESSAGE_TYPE, "seq": event.seq, "json": encoded_event(event)},
            )
        except Exception as error:  # the channel layer's own errors vary by backend
            if not self._publish_failed:
                logger.warning(
                    "Run %s: broadcasting event %s failed (%s); viewers will catch up from the log",
                    self.run.pk,
                    event.seq,
                    describe_error(error),
                )
            self._publish_failed = True
        else:
            self._publish_failed = False

    async def emit_state(self) -> RunEvent:
        return await self.emit("state", self.run.state_payload())
