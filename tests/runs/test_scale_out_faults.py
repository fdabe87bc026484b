"""Faults of the scale-out pieces, one at a time: a channel layer that fails, a dead worker,
settings that cannot work. (tests/scale/ runs the real set-up; these run everywhere.)"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from django.tasks.base import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from redis.exceptions import ConnectionError as RedisConnectionError

from runs.models import Run, RunEvent, Worker
from runs.reaper import reap_dead_workers

from ..helpers import execute
from .test_consumers import connect, cookie_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broken_layer(monkeypatch):
    """The channel layer as it is while Redis restarts: every call fails."""
    layer = get_channel_layer()

    async def fail(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for name in ("group_send", "group_add", "receive"):
        monkeypatch.setattr(layer, name, fail)
    return layer


async def test_a_run_whose_broadcasts_fail_still_succeeds_with_its_whole_log(
    local_session, broken_layer, caplog
):
    run = await execute(local_session, "A landing page for a florist")

    assert run.status == Run.Status.SUCCEEDED, run.error
    seqs = [e.seq async for e in RunEvent.objects.filter(run=run).order_by("seq")]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 5
    # One warning for the outage, not one per event.
    warnings = [r for r in caplog.records if "broadcasting event" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_websocket_while_the_channel_layer_is_down_closes_with_try_again_later(
    alice, broken_layer
):
    run = await Run.objects.acreate(owner=alice, config={}, prompt="p")
    communicator, connected = await connect(run.pk, await cookie_for(alice))
    # Accepted, then closed with 4013 (try again later), which the page reconnects on: not a 500.
    assert connected
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4013}


async def test_a_killed_workers_task_rows_end_failed_and_a_live_workers_are_kept(settings):
    settings.RUN_STALE_SECONDS = 60
    old = timezone.now() - timedelta(seconds=120)
    await Worker.objects.acreate(worker_id="dead", host="h", pid=1, slots=4, beat_at=old)
    await Worker.objects.acreate(worker_id="live", host="h", pid=2, slots=4)
    dead_row = await DBTaskResult.objects.acreate(
        status=TaskResultStatus.RUNNING,
        args_kwargs={"args": [1], "kwargs": {}},
        task_path="runs.tasks.run_execute_task",
        backend_name="default",
        worker_ids=["dead"],
    )
    live_row = await DBTaskResult.objects.acreate(
        status=TaskResultStatus.RUNNING,
        args_kwargs={"args": [2], "kwargs": {}},
        task_path="runs.tasks.run_execute_task",
        backend_name="default",
        worker_ids=["dead", "live"],  # retried by the live one
    )

    assert await reap_dead_workers() == 1

    await dead_row.arefresh_from_db()
    await live_row.arefresh_from_db()
    assert dead_row.status == TaskResultStatus.FAILED
    assert "stopped beating" in dead_row.traceback
    assert live_row.status == TaskResultStatus.RUNNING
    assert [w.worker_id async for w in Worker.objects.all()] == ["live"]


def _settings_import(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "REDIS_URL"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env",
    [
        {"REDIS_URL": "redis://127.0.0.1:1/0"},
        {"TASKS_BACKEND": "db"},
        {"DATABASE_URL": "postgres://u@127.0.0.1:1/db"},
    ],
    ids=["redis", "db-workers", "postgres"],
)
def test_scaled_out_settings_refuse_to_start_without_a_shared_secret_key(env, tmp_path):
    result = _settings_import(DASHBOARD_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set, to the same value in every" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # no per-machine key was generated
    with_key = _settings_import(DASHBOARD_DATA_DIR=str(tmp_path), DJANGO_SECRET_KEY="k" * 50, **env)
    assert with_key.returncode == 0, with_key.stderr


def test_the_worker_command_refuses_without_the_database_task_backend(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"TASKS_BACKEND", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "worker"],
        cwd=ROOT,
        env=env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "set TASKS_BACKEND=db" in result.stderr
