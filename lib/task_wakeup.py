"""Waking `manage.py worker`s when a task is queued, instead of waiting for their next poll.

With TASKS_BACKEND=db on PostgreSQL, every enqueue sends a NOTIFY on CHANNEL (in the enqueuing
transaction: it is delivered once the row is committed, never before), and each worker LISTENs
on its own connection and claims as soon as it hears one. Polling stays as the fallback: for
tasks due later (`run_after`), and while the listening connection is down (the database
restarting); on other databases there is only polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from django.db import connections

logger = logging.getLogger(__name__)

CHANNEL = "dashboard_tasks"
RETRY_SECONDS = 2.0


def _postgres(alias: str = "default"):
    connection = connections[alias]
    return connection if connection.vendor == "postgresql" else None


def notify_workers(sender=None, task_result=None, **kwargs) -> None:
    """A `task_enqueued` receiver: tell the listening workers a row is there (PostgreSQL)."""
    from django_tasks_db.backend import DatabaseBackend

    if not (isinstance(sender, type) and issubclass(sender, DatabaseBackend)):
        return
    if (connection := _postgres()) is None:
        return
    queue = getattr(task_result.task, "queue_name", "") if task_result is not None else ""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, queue])
    except Exception:  # the row is stored: the workers' next poll finds it
        logger.warning("Could not notify the workers of a queued task", exc_info=True)


def _conninfo(alias: str = "default") -> str:
    from psycopg.conninfo import make_conninfo

    params = connections[alias].get_connection_params()
    keep = {
        key: value
        for key, value in params.items()
        if isinstance(value, str | int) and key not in {"cursor_factory", "prepare_threshold"}
    }
    return make_conninfo(**keep)


async def listen_forever(wake: Callable[[], None], stopping: asyncio.Event) -> None:
    """Call `wake` on every NOTIFY on CHANNEL until `stopping` is set; reconnect after a
    failure (and wake once on every (re)connection: rows may have come meanwhile)."""
    if _postgres() is None:
        return
    import psycopg

    conninfo = _conninfo()
    failed = False
    while not stopping.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if failed:
                    logger.warning("Listening for queued tasks again")
                failed = False
                wake()
                async for _ in conn.notifies():
                    wake()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not failed:
                logger.warning("Listening for queued tasks failed (%s); polling meanwhile", error)
            failed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), RETRY_SECONDS)
