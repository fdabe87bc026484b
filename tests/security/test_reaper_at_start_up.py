"""Issue 9 item 8: nothing stays "running" after its server was killed. `manage.py reap` (run by
`make run` before daphne starts) ends a run whose executing process is gone at once, whatever
its heartbeat says; daphne starts its reaper with itself, not with its first request
(tests/e2e/test_restart.py::test_a_run_killed_with_its_server_is_interrupted_by_the_next_server
starts daphne and sends it nothing)."""

from __future__ import annotations

import io
import subprocess

import pytest
from django.core.management import call_command
from django.utils import timezone

from lib.processes import process_identity
from runs.models import Run


@pytest.mark.django_db(transaction=True)
def test_manage_py_reap_interrupts_a_run_whose_process_is_gone(alice, settings):
    settings.RUN_STALE_SECONDS = 3600  # its heartbeat is fresh: only the process check can tell
    killed = subprocess.Popen(["sleep", "30"])
    identity = process_identity(killed.pid)
    killed.kill()
    killed.wait()
    run = Run.objects.create(
        owner=alice,
        prompt="p",
        status=Run.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        executor=f"{settings.HOST_ID}/{identity}",
    )
    out = io.StringIO()
    call_command("reap", stdout=out)
    run.refresh_from_db()
    assert run.status == Run.Status.INTERRUPTED
    assert f"pid {killed.pid}" in run.error and "is gone" in run.error
    assert "runs interrupted (process gone): 1" in out.getvalue()
