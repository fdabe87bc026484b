"""Stale runs: a run whose heartbeat stopped ends interrupted, and what it left running in its
sandbox is stopped (its previews spared)."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from lib.processes import process_identity
from runs.executor import this_executor
from runs.models import Run, RunEvent
from runs.reaper import reap_orphaned_runs, reap_stale_runs
from sandboxes.models import Preview, SandboxSession

from ..fakes.previews import answers, group_members, new_preview, wait_for_status
from ..helpers import config

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def session(alice, starter):
    return await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="s", status="running"
    )


async def test_a_run_with_a_stale_heartbeat_becomes_interrupted(session, settings):
    settings.RUN_STALE_SECONDS = 60
    old = timezone.now() - timedelta(seconds=120)
    stale = await Run.objects.acreate(
        owner_id=session.owner_id,
        session=session,
        prompt="p",
        status="running",
        started_at=old,
        heartbeat_at=old,
    )
    fresh = await Run.objects.acreate(
        owner_id=session.owner_id,
        session=session,
        prompt="p",
        status="running",
        started_at=old,
        heartbeat_at=timezone.now(),
    )
    assert await reap_stale_runs() == 1
    await stale.arefresh_from_db()
    await fresh.arefresh_from_db()
    assert stale.status == Run.Status.INTERRUPTED
    assert "No heartbeat" in stale.error
    assert fresh.status == Run.Status.RUNNING
    event = await RunEvent.objects.aget(run=stale)
    assert event.payload["status"] == "interrupted"


def spawn_sleep(cwd: str | Path) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "300"], cwd=cwd, start_new_session=True)


def reap_child(process: subprocess.Popen) -> int:
    return process.wait(timeout=10)


def end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


async def test_reaping_a_stale_run_kills_its_leftover_process_but_not_its_preview(
    local_session, supervisor, settings, tmp_path
):
    settings.RUN_STALE_SECONDS = 60
    root = local_session.workspace_root
    preview = await new_preview(local_session)
    supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)
    leftover = spawn_sleep(os.path.join(root, "src"))  # e.g. a command the run started
    outsider = spawn_sleep(tmp_path)  # not in the workspace: none of the reaper's business
    try:
        old = timezone.now() - timedelta(seconds=120)
        run = await Run.objects.acreate(
            owner_id=local_session.owner_id,
            session=local_session,
            config=config(),
            prompt="p",
            status=Run.Status.RUNNING,
            started_at=old,
            heartbeat_at=old,
        )

        assert await reap_stale_runs() == 1

        assert await sync_to_async(reap_child)(leftover) == -signal.SIGKILL
        assert outsider.poll() is None
        await preview.arefresh_from_db()
        assert preview.status == Preview.Status.READY
        assert group_members(preview.pid)
        assert await answers(preview.upstream_url) == 200
        assert os.path.isfile(os.path.join(root, "src/App.tsx"))
        await run.arefresh_from_db()
        assert run.status == Run.Status.INTERRUPTED
        # A pass every RUN_HEARTBEAT_SECONDS (5) ends it within RUN_STALE_SECONDS of its last beat.
        assert run.error.startswith("No heartbeat for over 55 s")
        last = await RunEvent.objects.filter(run=run).order_by("seq").alast()
        assert (last.kind, last.payload["status"]) == ("state", "interrupted")
        await local_session.arefresh_from_db()
        assert local_session.status == SandboxSession.Status.RUNNING
    finally:
        end(leftover)
        end(outsider)


def _an_exited_process() -> tuple[int, str]:
    process = subprocess.Popen(["sleep", "30"])
    identity = process_identity(process.pid)
    process.kill()
    process.wait()
    return process.pid, identity


async def test_a_run_whose_process_is_gone_is_interrupted_at_once(session, settings):
    """Its heartbeat is fresh, but the process that executed it (on this machine) exited: a
    reaper pass (the one `make run` does at start-up, say) ends it without waiting."""
    settings.RUN_STALE_SECONDS = 600
    pid, identity = _an_exited_process()

    def running(executor: str):
        return Run.objects.acreate(
            owner_id=session.owner_id,
            session=session,
            prompt="p",
            status="running",
            started_at=timezone.now(),
            heartbeat_at=timezone.now(),
            executor=executor,
        )

    orphan = await running(f"{settings.HOST_ID}/{identity}")
    alive = await running(this_executor())
    # The same pid now naming another process (its start time differs): gone too.
    reused = await running(f"{settings.HOST_ID}/{os.getpid()}:1")
    elsewhere = await running(f"another-machine/{identity}")

    assert await reap_orphaned_runs() == 2
    for run in (orphan, alive, reused, elsewhere):
        await run.arefresh_from_db()
    assert orphan.status == reused.status == Run.Status.INTERRUPTED
    assert orphan.error.startswith(f"The process executing this run (pid {pid} on ")
    assert "is gone" in orphan.error
    assert alive.status == elsewhere.status == Run.Status.RUNNING
    event = await RunEvent.objects.aget(run=orphan)
    assert event.payload["status"] == "interrupted"


async def test_a_run_records_the_process_executing_it(session, settings):
    from runs.executor import run_execute

    run = await Run.objects.acreate(
        owner_id=session.owner_id, prompt="p", config=config(model="demo"), status="queued"
    )
    await run_execute(run_id=run.pk)
    await run.arefresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.executor == f"{settings.HOST_ID}/{process_identity()}"
