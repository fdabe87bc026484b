"""The reaper's passes over local sessions: vanished workspaces end stopped, old orphan
workspaces are removed, young and owned ones kept."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from sandboxes import reaper, services
from sandboxes.models import SandboxSession

from ..conftest import start_local_session

pytestmark = pytest.mark.django_db(transaction=True)

Status = SandboxSession.Status
APP = "src/App.tsx"


def age(path: str | Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


async def test_a_local_session_whose_workspace_vanished_ends_stopped(settings, alice, starter):
    gone = await start_local_session(alice, starter)
    paused_gone = await start_local_session(alice, starter)
    await services.session_pause(session=paused_gone)
    kept = await start_local_session(alice, starter)
    for session in (gone, paused_gone, kept):
        assert Path(session.workspace_root).parent == settings.SANDBOX_WORKSPACE_DIR
    shutil.rmtree(gone.workspace_root)
    shutil.rmtree(paused_gone.workspace_root)

    assert await reaper.reap_sessions() == 2

    for session in (gone, paused_gone):
        await session.arefresh_from_db()
        assert session.status == Status.STOPPED
        assert session.stopped_at is not None
        assert session.last_error == (
            f"Its workspace {session.workspace_root} is gone; the sandbox no longer exists."
        )
    await kept.arefresh_from_db()
    assert kept.status == Status.RUNNING
    assert os.path.isdir(kept.workspace_root)


async def test_old_orphan_workspaces_are_removed_young_and_owned_ones_kept(
    settings, alice, starter
):
    owned = await start_local_session(alice, starter)
    paused = await start_local_session(alice, starter)
    await services.session_pause(session=paused)
    stopped = await start_local_session(alice, starter)
    # Stopped in the database, its directory left behind (a crash mid-shutdown): an orphan.
    await SandboxSession.objects.filter(pk=stopped.pk).aupdate(status=Status.STOPPED)
    base = settings.SANDBOX_WORKSPACE_DIR
    old = base / "session-90001"  # no such session: left by a crash
    (old / "src").mkdir(parents=True)
    (old / "src" / "App.tsx").write_text("left by a crash")
    young = base / "session-90002"
    young.mkdir()
    other = base / "not-a-workspace"
    other.mkdir()
    for path in (old, other, owned.workspace_root, paused.workspace_root, stopped.workspace_root):
        age(path, 2 * 3600)
    age(young, 30 * 60)

    assert await reaper.reap_sessions() == 2

    assert not old.exists()
    assert not os.path.exists(stopped.workspace_root)
    assert young.is_dir()
    assert other.is_dir()
    for session in (owned, paused):
        assert os.path.isfile(os.path.join(session.workspace_root, APP))
        before = session.status
        await session.arefresh_from_db()
        assert session.status == before
