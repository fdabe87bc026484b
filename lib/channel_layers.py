"""The in-memory channel layer, usable from any event loop of the server process.

Its queues are asyncio objects of the loop that serves the websockets; a task running on the
tasks' own loop (lib/task_backends.py) must not touch them from its thread. Every operation
started on another loop is carried out on the server's loop and awaited from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from channels.layers import InMemoryChannelLayer

from . import task_backends


async def _on_server_loop(operation: Coroutine[Any, Any, Any]) -> Any:
    loop = task_backends.server_loop()
    if loop is None or loop is asyncio.get_running_loop():
        return await operation
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(operation, loop))


class ServerLoopChannelLayer(InMemoryChannelLayer):
    async def send(self, channel: str, message: dict) -> None:
        await _on_server_loop(super().send(channel, message))

    async def group_send(self, group: str, message: dict) -> None:
        await _on_server_loop(super().group_send(group, message))

    async def group_add(self, group: str, channel: str) -> None:
        await _on_server_loop(super().group_add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        await _on_server_loop(super().group_discard(group, channel))

    async def receive(self, channel: str) -> dict:
        return await _on_server_loop(super().receive(channel))
