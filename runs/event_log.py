"""The run event log: append with a gapless seq, render as an HTML fragment, then publish.

The database is written before the broadcast, so a client that joins the group and then reads
the log can never miss an event: it is either in what it read or in what it hears next.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.db import IntegrityError
from django.db.models import Max

from lib.errors import describe_error

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
                event = await RunEvent.objects.acreate(
                    run_id=self.run.pk, seq=self._seq + 1, kind=kind, payload=payload
                )
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
