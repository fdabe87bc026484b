"""Session lifecycle: start, failures, shutdown; on the real local backend (and on E2B, faked in
tests/fakes/e2b.py, for a backend that is no longer offered)."""

import asyncio
import os

import pytest
from asgiref.sync import sync_to_async

from runs.models import Run
from sandboxes import services, workspace
from sandboxes.models import SandboxSession

from ..fakes.e2b import e2b_session
from ..helpers import execute

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_started_session_has_the_starter_files_and_stored_state(local_session):
    root = local_session.workspace_root
    assert os.path.isfile(os.path.join(root, "src/App.tsx"))
    assert local_session.sdk_state["type"] == "unix_local"
    files = await sync_to_async(workspace.listing)(local_session)
    assert {f["path"] for f in files} >= {"package.json", "src/App.tsx", "vite.config.js"}


async def test_a_session_whose_manifest_is_gone_fails_with_the_reason(alice, starter):
    session = await SandboxSession.objects.acreate(owner=alice, manifest=None, name="orphan")
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.FAILED
    assert "manifest" in session.last_error


async def test_a_sandbox_that_cannot_start_fails_and_is_cleaned_up(alice, starter, monkeypatch):
    from agents.sandbox.sandboxes import unix_local

    async def broken_start(self):
        raise OSError("disk full")

    created = []
    original_create = unix_local.UnixLocalSandboxClient.create

    async def create(self, **kwargs):
        session = await original_create(self, **kwargs)
        created.append(session.state.manifest.root)
        return session

    monkeypatch.setattr(unix_local.UnixLocalSandboxClient, "create", create)
    monkeypatch.setattr(unix_local.UnixLocalSandboxSession, "start", broken_start, raising=False)
    monkeypatch.setattr("agents.sandbox.session.sandbox_session.SandboxSession.start", broken_start)
    session = await SandboxSession.objects.acreate(owner=alice, manifest=starter, name="s")
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()

    assert session.status == SandboxSession.Status.FAILED
    assert "disk full" in session.last_error
    assert created and not os.path.exists(created[0])


async def test_shutdown_removes_the_workspace_and_ends_stopped(local_session):
    root = local_session.workspace_root
    await services.session_shutdown(session=local_session)
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.STOPPED
    assert local_session.stopped_at is not None
    assert not os.path.exists(root)


async def test_shutdown_of_a_vanished_sandbox_still_ends_stopped(local_session):
    local_session.sdk_state = {"type": "no-such-backend-state"}
    await local_session.asave()
    await services.session_shutdown(session=local_session)
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.STOPPED
    assert "could not be reached" in local_session.last_error


async def test_a_session_whose_backend_is_no_longer_offered_still_shuts_down(
    alice, starter, cloud, monkeypatch
):
    session = await e2b_session(alice, starter)
    monkeypatch.delenv("E2B_API_KEY")

    await services.session_shutdown(session=session)

    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.STOPPED
    assert "could not be reached" in session.last_error


async def test_shutdown_cancels_the_active_run_first(local_session):
    from runs.executor import run_execute

    from ..helpers import config, shell_step, use_model

    use_model("scripted", [shell_step("sleep 30", "slow")])
    run = await Run.objects.acreate(
        owner_id=local_session.owner_id,
        session=local_session,
        config=config("scripted"),
        prompt="wait",
    )
    task = asyncio.create_task(run_execute(run_id=run.pk))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if await Run.objects.filter(pk=run.pk, status="running").aexists():
            break
    await services.session_shutdown(session=local_session)
    await asyncio.wait_for(task, timeout=15)
    await run.arefresh_from_db()
    await local_session.arefresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert local_session.status == SandboxSession.Status.STOPPED


async def test_runs_after_shutdown_fail_clearly(local_session):
    await services.session_shutdown(session=local_session)
    await local_session.arefresh_from_db()
    run = await execute(local_session, model="demo")
    assert run.status == Run.Status.FAILED
    assert "The sandbox is stopped" in run.error


async def test_a_run_keeps_the_workspace_as_it_is_on_disk(local_session, settings):
    """Resuming a local sandbox neither re-applies the starter nor restores a snapshot over
    files that appeared outside any run (npm install, a dev server's cache)."""
    root = local_session.workspace_root
    installed = os.path.join(root, "node_modules", "left-pad", "index.js")
    await sync_to_async(os.makedirs)(os.path.dirname(installed))
    with open(installed, "w") as f:
        f.write("module.exports = 1;\n")
    with open(os.path.join(root, "src/App.tsx"), "w") as f:
        f.write("// edited by hand\n")

    from ..helpers import answer_step, shell_step, use_model

    use_model("scripted", [shell_step("cat src/App.tsx", "read"), answer_step("ok")])
    run = await execute(local_session, model="scripted")

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert os.path.exists(installed)
    with open(os.path.join(root, "src/App.tsx")) as f:
        assert f.read() == "// edited by hand\n"
    assert not os.path.exists(settings.SANDBOX_SNAPSHOT_DIR / str(local_session.pk))
