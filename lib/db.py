"""Database connections of long-lived processes (daphne's loops, workers)."""

from __future__ import annotations

from django.db import connections


def close_broken_connections() -> None:
    """Close connections the database dropped (it restarted, say), so the next query opens a
    new one: outside requests, Django never does. Run it in the thread that holds them (the
    ORM's sync_to_async thread)."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()
