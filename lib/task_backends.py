"""A django.tasks backend that runs tasks on the server's own event loop.

The embedded default: `make run` is one daphne process, and a run must stream to the websockets
that same process serves (the in-memory channel layer does not cross threads or processes).
Task functions stay ordinary `django.tasks` tasks, so `TASKS_BACKEND=db` hands the very same
functions to `django-tasks-db` workers instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TaskResult, TaskResultStatus
from django.utils import timezone
from django.utils.crypto import get_random_string

logger = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None
_fallback_loop: asyncio.AbstractEventLoop | None = None
_fallback_lock = threading.Lock()
_running: set[asyncio.Future[Any]] = set()
_loop_started_hooks: list[Callable[[], Any]] = []


def on_server_loop_start(hook: Callable[[], Any]) -> None:
    """Register a coroutine function to start once the server loop is known (e.g. the reaper)."""
    _loop_started_hooks.append(hook)


def _adopt_running_loop() -> None:
    """The running loop is the server's: remember it and start the hooks, once."""
    global _server_loop
    if _server_loop is None:
        _server_loop = asyncio.get_running_loop()
        for hook in _loop_started_hooks:
            _track(asyncio.ensure_future(hook()))


def remember_server_loop(app):
    """ASGI wrapper recording the loop daphne serves on: as soon as daphne's reactor runs
    (so the reaper starts with the server, not with its first request), or else the first
    time it serves anything."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is not None:  # under daphne (its asyncio reactor); callLater runs in its loop
        reactor.callWhenRunning(lambda: reactor.callLater(0, _adopt_running_loop))

    async def wrapper(scope, receive, send):
        _adopt_running_loop()
        return await app(scope, receive, send)

    return wrapper


def _loop_for_tasks() -> asyncio.AbstractEventLoop:
    if _server_loop is not None and not _server_loop.is_closed():
        return _server_loop
    # No server (a management command, a test without a live server): one background loop.
    global _fallback_loop
    with _fallback_lock:
        if _fallback_loop is None or _fallback_loop.is_closed():
            _fallback_loop = asyncio.new_event_loop()
            threading.Thread(
                target=_fallback_loop.run_forever, name="tasks-loop", daemon=True
            ).start()
        return _fallback_loop


def _track(future: asyncio.Future[Any] | Future[Any]) -> None:
    _running.add(future)  # type: ignore[arg-type]
    future.add_done_callback(_running.discard)  # type: ignore[arg-type]


def _log_failure(future: asyncio.Future[Any] | Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        logger.error("Background task failed", exc_info=error)


class ServerLoopBackend(BaseTaskBackend):
    supports_async_task = True
    supports_defer = False
    supports_get_result = False

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        now = timezone.now()
        result = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.RUNNING,
            enqueued_at=now,
            started_at=now,
            last_attempted_at=now,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=["server"],
        )
        loop = _loop_for_tasks()
        coroutine = task.acall(*args, **kwargs)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        # A task starts in a clean context: it must not inherit the request's contextvars
        # (asgiref's thread-sensitivity markers among them, which would deadlock its ORM calls).
        fresh = contextvars.Context()
        if running is loop:
            future: Any = loop.create_task(coroutine, context=fresh)
        else:
            future = fresh.run(asyncio.run_coroutine_threadsafe, coroutine, loop)
        future.add_done_callback(_log_failure)
        _track(future)
        return result
