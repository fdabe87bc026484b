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

from runs.models import Run, RunEvent
from runs.reaper import reap_stale_runs
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
