"""Writes from the loop's own thread (lib/loop_sqlite.py): carried out and committed when the
database is free, refused at once (nothing written) when another writer holds it, and a failed
constraint is Django's IntegrityError, as from the ORM."""

from __future__ import annotations

import sqlite3
import time

import pytest
from django.db import IntegrityError

from lib.loop_sqlite import execute_here, execute_on

INIT = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
INSERT = "INSERT INTO log (seq, text) VALUES (?, ?) RETURNING id"


@pytest.fixture
def database(tmp_path):
    name = str(tmp_path / "loop.sqlite3")
    other = sqlite3.connect(name, isolation_level=None)
    other.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, seq INTEGER UNIQUE, text TEXT)")
    yield name, other
    other.close()


def stored(other) -> list[tuple]:
    return other.execute("SELECT seq, text FROM log ORDER BY seq").fetchall()


def test_a_write_is_committed_and_returns_its_row(database):
    name, other = database
    assert execute_on(name, INIT, INSERT, [1, "one"]) == (1,)
    assert execute_on(name, INIT, INSERT, [2, "two"]) == (2,)
    assert stored(other) == [(1, "one"), (2, "two")]  # another connection sees both
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_write_while_another_writer_holds_the_database_is_refused_at_once(database):
    name, other = database
    execute_on(name, INIT, INSERT, [1, "one"])
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO log (seq, text) VALUES (2, 'theirs')")
    started = time.monotonic()
    assert execute_on(name, INIT, INSERT, [3, "mine"]) is None
    assert time.monotonic() - started < 0.5  # not waited for: the loop goes on
    other.execute("COMMIT")
    assert stored(other) == [(1, "one"), (2, "theirs")]
    assert execute_on(name, INIT, INSERT, [3, "mine"]) == (3,)  # free again: written


def test_a_failed_constraint_is_an_integrity_error_and_writes_nothing(database):
    name, other = database
    execute_on(name, INIT, INSERT, [1, "one"])
    with pytest.raises(IntegrityError):
        execute_on(name, INIT, INSERT, [1, "again"])
    assert stored(other) == [(1, "one")]


@pytest.mark.django_db
def test_the_suites_in_memory_database_is_left_to_the_orm():
    assert execute_here("default", "SELECT 1", []) is None
