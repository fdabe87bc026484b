"""The in-memory channel layer, usable from any event loop of the server process, and cheap
per message.

Its queues are asyncio objects of the loop that serves the websockets; a task running on the
tasks' own loop (lib/task_backends.py) must not touch them from its thread. Every operation
started on another loop is carried out on the server's loop and awaited from there.

Channels' own InMemoryChannelLayer does, for every group_send, a scan of every channel and
group for expired messages, one asyncio task per member channel (gathered with as_completed)
and a deepcopy of the message per member; and the scan again on every receive. With 50 runs
watched by 4 viewers each, that was loop time taken from live delivery (bench/live.py). Here a
group_send puts the message straight into each member's queue (a shallow copy each: messages
are dicts of strings and numbers, never mutated by a consumer) and the expiry scan runs at most
once per EXPIRY_SCAN_SECONDS. A channel keeps its queue while it is received from (channels'
layer made a new asyncio.Queue for every message received); the scan drops the queues that
are empty and awaited by no one. Capacity, expiry and group membership behave as before.
`receive_ready` takes a message already queued without waiting (runs/consumers.py sends a
burst of a run's events to a viewer as one websocket message).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from . import task_backends


async def _on_server_loop(operation: Coroutine[Any, Any, Any]) -> Any:
    loop = task_backends.server_loop()
    if loop is None or loop is asyncio.get_running_loop():
        return await operation
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(operation, loop))


EXPIRY_SCAN_SECONDS = 1.0


class ServerLoopChannelLayer(InMemoryChannelLayer):
    _scanned_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._scanned_at >= EXPIRY_SCAN_SECONDS:
            self._scanned_at = now
            super()._clean_expired()
            for channel, queue in list(self.channels.items()):
                if queue.empty() and not queue._getters:  # a channel nobody listens to
                    del self.channels[channel]

    def _put(self, channel: str, message: dict) -> None:
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def _send_here(self, channel: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        assert "__asgi_channel__" not in message
        self.require_valid_channel_name(channel)
        self._put(channel, message)

    async def _group_send_here(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            try:
                self._put(channel, message)
            except ChannelFull:
                pass  # as channels' own layer: a full channel misses the message

    async def send(self, channel: str, message: dict) -> None:
        await _on_server_loop(self._send_here(channel, message))

    async def group_send(self, group: str, message: dict) -> None:
        await _on_server_loop(self._group_send_here(group, message))

    async def group_add(self, group: str, channel: str) -> None:
        await _on_server_loop(super().group_add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        await _on_server_loop(super().group_discard(group, channel))

    async def _receive_here(self, channel: str) -> dict:
        self._clean_expired()
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        _, message = await queue.get()
        return message

    async def receive(self, channel: str) -> dict:
        self.require_valid_channel_name(channel)
        return await _on_server_loop(self._receive_here(channel))

    def receive_ready(self, channel: str) -> dict | None:
        """The next message already queued for `channel`, or None; it never waits. On the
        server's loop only (None elsewhere): a consumer that has just received a message takes
        what came with it, so that a burst of events goes out to its client in one message."""
        loop = task_backends.server_loop()
        if loop is not None and loop is not asyncio.get_running_loop():
            return None
        queue = self.channels.get(channel)
        if queue is None or queue.empty():
            return None
        _, message = queue.get_nowait()
        return message
