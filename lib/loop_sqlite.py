"""A write to the SQLite database from the event loop's own thread, without a thread hop.

From async code Django runs the ORM in its worker thread (sync_to_async). For a run's event log,
one small INSERT per event, that hop was most of what the dashboard added to an SDK run: the
worker thread and the loop thread (busy with the SDK's own work) take turns at the GIL, and the
INSERT ran cold in the other thread, 0.5 ms of CPU per event where it costs 0.1 ms on its own
(bench/events.py: a 300-tool-call run took 9.2 s of CPU with the hop, 8.0 s without, 7.5 s for
the SDK alone).

Here each thread has its own plain sqlite3 connection to Django's database (the same file and
the same init_command, foreign keys on, autocommit), and a statement never waits for a lock:
when another writer holds the database, nothing is written and None comes back, so that the
caller takes the ORM's way, which waits as usual. The loop is never blocked by another writer.
For any other database engine, None as well: there the ORM's way is the only one.

A writer thread of its own (a plain queue, the loop's future settled by call_soon_threadsafe;
SQLite lets go of the GIL while it writes) was measured as well, interleaved with this in one
process: the loop thread's share of a run's CPU half a point lower (4.8 % to 4.3 %), no lower
in the whole process, and the SDK-to-viewer latency p50 went from 0.8 ms to 2-4 ms (the thread
waits for the GIL behind the SDK's turns). Not kept. What an INSERT costs here is mostly the
cache: 30-40 us when it runs warm, 150-200 us right after one of the SDK's turns (timed inside
bench/events.py's run).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from django.db import IntegrityError, connections

_local = threading.local()


def _connection(name: str, init_command: str) -> sqlite3.Connection | None:
    opened: dict[str, sqlite3.Connection] = _local.__dict__.setdefault("opened", {})
    connection = opened.get(name)
    if connection is None:
        # As Django opens its own, but with no busy timeout: a locked database is said at once.
        connection = sqlite3.connect(
            name, uri=True, timeout=0, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            if init_command:
                connection.executescript(init_command)
        except sqlite3.Error:
            connection.close()  # locked while switching journal mode, say: another time
            return None
        opened[name] = connection
    return connection


def execute_on(name: str, init_command: str, sql: str, params: list[Any]) -> tuple | None:
    """`sql` (? placeholders) on this thread's connection to the SQLite database `name`; its
    first row (() if it returns none), or None when it was not carried out (another writer
    holds the database, or SQLite failed otherwise). A constraint that fails raises Django's
    IntegrityError, as the ORM would. Whenever it raises or gives None, nothing was written."""
    connection = _connection(name, init_command)
    if connection is None:
        return None
    try:
        rows = connection.execute(sql, params).fetchall()  # all: the statement ends, commits
    except sqlite3.IntegrityError as error:
        raise IntegrityError(*error.args) from error
    except sqlite3.Error:
        return None
    return rows[0] if rows else ()


def execute_here(alias: str, sql: str, params: list[Any]) -> tuple | None:
    """execute_on for Django's database `alias`; None (not carried out) unless it is an SQLite
    file. An in-memory one (the test suite's) is shared between connections by table locks
    that fail at once instead of waiting: there the ORM's connections stay the only ones."""
    wrapper = connections[alias]
    if wrapper.vendor != "sqlite" or wrapper.is_in_memory_db():
        return None
    settings = wrapper.settings_dict
    init_command = settings.get("OPTIONS", {}).get("init_command", "")
    return execute_on(str(settings["NAME"]), init_command, sql, params)
