"""Writes for manifests and sandbox sessions. Views and tasks call these, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .backends import get_backend
from .models import Manifest, SandboxSession

logger = logging.getLogger(__name__)

WORKSPACE_LIST_LIMIT = 500
SHUTDOWN_WAIT_STEPS = 60  # x 0.25 s
SKIPPED_DIRS = {"node_modules", ".git", "__pycache__", ".venv"}


class SessionNotReady(Exception):
    pass


def describe_error(error: BaseException) -> str:
    """A one-line, user-facing description of what went wrong."""
    # Task groups (MCP clients, anyio) wrap the one error that matters.
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    message = str(error).strip() or error.__class__.__name__
    cause = error.__cause__
    if cause is not None and str(cause).strip() and str(cause) not in message:
        message = f"{message}: {cause}"
    return f"{error.__class__.__name__}: {message}"[:2000]


def session_create(
    *, owner, manifest: Manifest, backend_id: str, name: str = "", options: dict | None = None
) -> SandboxSession:
    """Record a new session and start its sandbox in the background."""
    from .tasks import start_session

    get_backend(backend_id)  # refuse unavailable backends before writing anything
    with transaction.atomic():
        session = SandboxSession.objects.create(
            owner=owner,
            manifest=manifest,
            backend=backend_id,
            name=name or _default_name(owner, manifest),
            options=options or {},
            status=SandboxSession.Status.CREATING,
        )
        transaction.on_commit(lambda: start_session.enqueue(session.pk))
    return session


def _default_name(owner, manifest: Manifest) -> str:
    count = SandboxSession.objects.filter(owner=owner, manifest=manifest).count()
    return f"{manifest.name} #{count + 1}"


async def session_start(*, session_id: int) -> None:
    """Create and start the sandbox, store its state; any failure ends the session as failed."""
    session = await SandboxSession.objects.select_related("manifest").aget(pk=session_id)
    if session.status != SandboxSession.Status.CREATING:
        return
    sdk_session = None
    client = None
    try:
        backend = get_backend(session.backend)
        client = backend.client()
        if session.manifest is None:
            raise ValueError("The manifest this session was created from no longer exists.")
        manifest = backend.manifest_for(session, await sync_to_async(session.manifest.to_sdk)())
        sdk_session = await client.create(
            manifest=manifest,
            options=backend.client_options(session.options),
            snapshot=backend.snapshot(session),
        )
        await sdk_session.start()
        await _write_binary_files(sdk_session, session.manifest)
        await sdk_session.stop()
        session.sdk_state = _stored_state(backend, client, sdk_session)
        session.status = SandboxSession.Status.RUNNING
        session.last_error = ""
        session.timeout_at = _timeout_at(backend, session)
    except Exception as error:
        logger.warning("Session %s failed to start", session_id, exc_info=True)
        session.status = SandboxSession.Status.FAILED
        session.last_error = describe_error(error)
        session.stopped_at = timezone.now()
        if sdk_session is not None and client is not None:
            await _discard(client, sdk_session, backend)
    await session.asave(
        update_fields=["sdk_state", "status", "last_error", "stopped_at", "timeout_at"]
    )


async def _write_binary_files(sdk_session, manifest: Manifest) -> None:
    """Binary manifest files, written after start: in the SDK manifest they would break its
    state serialization."""
    async for entry in manifest.entries.filter(is_binary=True):
        await sdk_session.write(Path(entry.path), io.BytesIO(entry.data))


def _timeout_at(backend, session: SandboxSession):
    seconds = backend.timeout_seconds(session.options)
    return timezone.now() + timedelta(seconds=seconds) if seconds else None


def _stored_state(backend, client, sdk_session) -> dict:
    """The SDK's serialized state, with the backend's secret fields sealed."""
    return backend.seal_state(client.serialize_session_state(sdk_session.state))


async def _resume(backend, client, session: SandboxSession):
    state = client.deserialize_session_state(backend.unseal_state(session.sdk_state))
    return await client.resume(state)


async def _discard(client, sdk_session, backend=None) -> None:
    """Shut a sandbox down for good and delete what it left behind; never raises."""
    # With pause_on_exit the SDK's shutdown() only pauses (E2B keeps paused sandboxes): a
    # session that ends must not leave one behind that nothing will ever resume.
    if getattr(sdk_session.state, "pause_on_exit", False):
        sdk_session.state.pause_on_exit = False
    for step in (sdk_session.shutdown, lambda: client.delete(sdk_session)):
        try:
            await step()
        except Exception:
            logger.warning("Cleaning up a sandbox failed", exc_info=True)
    if backend is not None:
        await sync_to_async(backend.after_discard)(sdk_session)


@contextlib.asynccontextmanager
async def sandbox_attached(session: SandboxSession) -> AsyncIterator[Any]:
    """The session's sandbox, resumed and started; stopped and its state stored on exit.

    A sandbox that cannot be brought back ends the session as failed, and is shut down.
    """
    if session.status != SandboxSession.Status.RUNNING or not session.sdk_state:
        raise SessionNotReady(f"The sandbox is {session.get_status_display().lower()}.")
    backend = get_backend(session.backend)
    client = backend.client()
    previous_sandbox = session.sdk_state.get("sandbox_id")
    try:
        sdk_session = await _resume(backend, client, session)
        backend.after_resume(sdk_session)
        await sdk_session.start()
    except Exception as error:
        session.status = SandboxSession.Status.FAILED
        session.last_error = describe_error(error)
        session.stopped_at = timezone.now()
        await session.asave(update_fields=["status", "last_error", "stopped_at"])
        raise
    current_sandbox = getattr(sdk_session.state, "sandbox_id", None)
    if previous_sandbox and current_sandbox != previous_sandbox:
        # The provider lost the sandbox (expired, killed elsewhere) and the SDK made a new one
        # from the manifest: say so instead of silently showing a fresh workspace.
        session.last_error = (
            f"Sandbox {previous_sandbox} was gone; {current_sandbox} was created from the "
            "starter instead, so earlier edits are not in it."
        )
        await session.asave(update_fields=["last_error"])
    try:
        yield sdk_session
    finally:
        try:
            await sdk_session.stop()
            if getattr(sdk_session.state, "pause_on_exit", False):
                # pause_on_exit: pause between runs (the next resume wakes it up).
                await sdk_session.shutdown()
            session.sdk_state = _stored_state(backend, client, sdk_session)
            session.timeout_at = _timeout_at(backend, session)
            await session.asave(update_fields=["sdk_state", "timeout_at"])
        except Exception as error:
            logger.warning("Stopping session %s failed", session.pk, exc_info=True)
            session.status = SandboxSession.Status.FAILED
            session.last_error = describe_error(error)
            session.stopped_at = timezone.now()
            await session.asave(update_fields=["status", "last_error", "stopped_at"])
            await _discard(client, sdk_session, backend)


async def session_shutdown(*, session: SandboxSession) -> None:
    """Shut the sandbox down for good. A sandbox that is already gone still ends `stopped`."""
    from runs.models import Run
    from runs.services import run_cancel

    active = Run.objects.filter(session=session, status__in=Run.ACTIVE_STATUSES)
    async for run in active:
        await run_cancel(run=run)
    # Let executors stop and store the sandbox's state before it goes away.
    for _ in range(SHUTDOWN_WAIT_STEPS):
        if not await active.aexists():
            break
        await asyncio.sleep(0.25)
    await session.arefresh_from_db()
    from .previews import session_previews_stop

    await session_previews_stop(session=session)
    if session.sdk_state:
        try:
            backend = get_backend(session.backend)
            client = backend.client()
            sdk_session = await _resume(backend, client, session)
            await _discard(client, sdk_session, backend)
        except Exception as error:
            logger.warning("Resuming session %s for shutdown failed", session.pk, exc_info=True)
            session.last_error = f"Shut down; the sandbox could not be reached: {error}"[:2000]
    snapshot_dir = settings.SANDBOX_SNAPSHOT_DIR / str(session.pk)
    await sync_to_async(shutil.rmtree)(snapshot_dir, ignore_errors=True)
    session.status = SandboxSession.Status.STOPPED
    session.stopped_at = timezone.now()
    await session.asave(update_fields=["status", "stopped_at", "last_error"])


def workspace_files(session: SandboxSession) -> list[dict[str, Any]]:
    """Files in a local session's workspace (read straight from disk, never blocks a run)."""
    root = session.workspace_root
    if session.backend != SandboxSession.Backend.LOCAL or not root or not os.path.isdir(root):
        return []
    files: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for filename in sorted(filenames):
            full = os.path.join(dirpath, filename)
            try:
                size = os.path.getsize(full)
            except OSError:
                continue
            files.append({"path": os.path.relpath(full, root), "size": size})
            if len(files) >= WORKSPACE_LIST_LIMIT:
                return files
    return files


class SessionBusy(Exception):
    pass


async def _refuse_if_busy(session: SandboxSession) -> None:
    from runs.models import Run

    if await Run.objects.filter(session=session, status__in=Run.ACTIVE_STATUSES).aexists():
        raise SessionBusy("A run is active on this sandbox; wait for it or cancel it first.")


async def session_pause(*, session: SandboxSession) -> None:
    """Stop what the sandbox runs, keep its workspace: E2B pauses it, local stops its previews."""
    from .previews import session_previews_stop

    if session.status != SandboxSession.Status.RUNNING:
        raise SessionNotReady(f"The sandbox is {session.get_status_display().lower()}.")
    await _refuse_if_busy(session)
    await session_previews_stop(session=session)
    backend = get_backend(session.backend)
    client = backend.client()
    sdk_session = await _resume(backend, client, session)
    await backend.pause(sdk_session)
    session.sdk_state = _stored_state(backend, client, sdk_session)
    session.status = SandboxSession.Status.PAUSED
    session.timeout_at = None
    await session.asave(update_fields=["sdk_state", "status", "timeout_at"])


async def session_resume(*, session: SandboxSession) -> None:
    """Bring a paused sandbox back; it is attached once, so a failure shows here, not later."""
    if session.status != SandboxSession.Status.PAUSED:
        raise SessionNotReady(f"The sandbox is {session.get_status_display().lower()}.")
    session.status = SandboxSession.Status.RUNNING
    await session.asave(update_fields=["status"])
    async with sandbox_attached(session):
        pass


async def session_extend(*, session: SandboxSession, seconds: int) -> None:
    """Push the provider's timeout `seconds` from now (E2B's set_timeout)."""
    backend = get_backend(session.backend)
    async with sandbox_attached(session) as sdk_session:
        await backend.extend(sdk_session, seconds)
    session.timeout_at = timezone.now() + timedelta(seconds=seconds)
    await session.asave(update_fields=["timeout_at"])


LOCAL_WORKSPACE_PREFIX = "session-"
ORPHAN_AGE_SECONDS = 3600


async def reap_sessions() -> int:
    """Local sessions whose workspace vanished end stopped; workspaces under
    SANDBOX_WORKSPACE_DIR that no live session owns (left by a crash) are removed once they are
    an hour old. Nothing outside that directory is touched."""
    live = SandboxSession.objects.filter(status__in=SandboxSession.LIVE_STATUSES)
    sessions = [s async for s in live.filter(backend=SandboxSession.Backend.LOCAL)]
    vanished, orphans = await sync_to_async(_scan_local_workspaces)(sessions)
    for session in vanished:
        session.status = SandboxSession.Status.STOPPED
        session.stopped_at = timezone.now()
        session.last_error = (
            f"Its workspace {session.workspace_root} is gone; the sandbox no longer exists."
        )
        await session.asave(update_fields=["status", "stopped_at", "last_error"])
    for path in orphans:
        if not await live.filter(sdk_state__manifest__root=path).aexists():
            await sync_to_async(shutil.rmtree)(path, ignore_errors=True)
    return len(vanished) + len(orphans)


def _scan_local_workspaces(
    sessions: list[SandboxSession],
) -> tuple[list[SandboxSession], list[str]]:
    import time

    owned = {os.path.realpath(s.workspace_root) for s in sessions if s.workspace_root}
    vanished = [
        s
        for s in sessions
        if s.workspace_root
        and s.status != SandboxSession.Status.CREATING
        and not os.path.isdir(s.workspace_root)
    ]
    base = settings.SANDBOX_WORKSPACE_DIR
    orphans = []
    for name in os.listdir(base) if os.path.isdir(base) else []:
        path = os.path.realpath(os.path.join(base, name))
        if not name.startswith(LOCAL_WORKSPACE_PREFIX) or path in owned:
            continue
        try:
            if time.time() - os.path.getmtime(path) > ORPHAN_AGE_SECONDS:
                orphans.append(path)
        except OSError:
            continue
    return vanished, orphans


def kill_workspace_processes(root: str, *, keep_groups: set[int] = frozenset()) -> int:
    """Kill the processes working in a local workspace (their cwd is in it), except the
    process groups in `keep_groups` (running previews). What a run left behind when the process
    executing it died. Linux only (reads /proc); elsewhere does nothing."""
    import signal

    if not root or not os.path.isdir("/proc"):
        return 0
    root = os.path.realpath(root)
    # Only ever inside the dashboard's own workspaces: never a parent, never "" -> cwd.
    base = os.path.realpath(settings.SANDBOX_WORKSPACE_DIR)
    if not root.startswith(base + os.sep):
        return 0
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.path.realpath(os.readlink(f"/proc/{entry}/cwd"))
            group = os.getpgid(int(entry))
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + os.sep)) and group not in keep_groups:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except OSError:
                continue
    return killed


async def session_release_after_crash(*, session: SandboxSession) -> None:
    """A run died with the process executing it: stop what it left running in its sandbox.

    Local: processes in the workspace (previews excepted). Elsewhere: attach and stop, which
    ends the SDK's own processes. The workspace itself is kept.
    """
    from .models import Preview

    if session.backend == SandboxSession.Backend.LOCAL:
        previews = Preview.objects.filter(session=session, status__in=Preview.ACTIVE_STATUSES)
        keep = {p.pid async for p in previews if p.pid}
        if session.workspace_root:
            await sync_to_async(kill_workspace_processes)(session.workspace_root, keep_groups=keep)
        return
    if session.status == SandboxSession.Status.RUNNING:
        try:
            async with sandbox_attached(session) as sdk_session:
                await sdk_session.pty_terminate_all()
        except Exception:
            logger.warning("Releasing session %s after a crash failed", session.pk, exc_info=True)
