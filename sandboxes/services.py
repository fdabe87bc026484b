"""A sandbox session's lifecycle: create, start, attach for a run, pause, resume, extend, shut
down, and clean up after a crash. Views and tasks call these, nothing else."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lib.errors import describe_error
from lib.processes import kill_processes_under

from . import hooks
from .backends import backend_of, get_backend
from .hosts import elsewhere_reason, require_here, task_for
from .models import Manifest, Preview, SandboxSession

logger = logging.getLogger(__name__)


class SessionNotReady(Exception):
    pass


class SessionBusy(Exception):
    pass


def session_create(
    *, owner, manifest: Manifest, backend_id: str, name: str = "", options: dict | None = None
) -> SandboxSession:
    """Record a new session and start its sandbox in the background."""
    from .tasks import session_start_task

    get_backend(backend_id, owner)  # refuse unavailable backends before writing anything
    with transaction.atomic():
        session = SandboxSession.objects.create(
            owner=owner,
            manifest=manifest,
            backend=backend_id,
            name=name or _default_name(owner, manifest),
            options=options or {},
            status=SandboxSession.Status.CREATING,
        )
        transaction.on_commit(lambda: session_start_task.enqueue(session.pk))
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
        backend = await backend_of(session)
        client = backend.client()
        if session.is_local:
            session.host = settings.HOST_ID  # its folder and processes will be on this machine
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
        update_fields=["sdk_state", "status", "last_error", "stopped_at", "timeout_at", "host"]
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
    require_here(session)  # refused, not failed: the sandbox is fine on its own machine
    backend = await backend_of(session)
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
    from .previews import session_previews_stop

    require_here(session)  # its folder and processes are on its own machine
    # What runs on it (agent runs, in higher layers) stops first and stores its state.
    await hooks.before_shutdown(session)
    await session.arefresh_from_db()
    await hooks.before_stop(session)  # while it still runs: higher layers keep what they need
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


async def session_delete(*, session: SandboxSession) -> None:
    """Shut it down (its runs stop, its previews' processes end, its workspace is removed), then
    forget it with its runs, conversations and previews. Comparisons keep their other versions.
    Refused (SessionBusy) while a higher layer still needs its rows (a live share link)."""
    if reason := await hooks.delete_refusal_reason(session):
        raise SessionBusy(reason)
    if session.status != SandboxSession.Status.STOPPED:
        await session_shutdown(session=session)
    if session.is_local and session.workspace_root:
        # A shutdown that could not reach the sandbox leaves its folder behind.
        await sync_to_async(_remove_workspace)(session.workspace_root)
    await session.adelete()


def _remove_workspace(root: str) -> None:
    """Remove a local workspace, only ever one under SANDBOX_WORKSPACE_DIR."""
    path = Path(root).resolve()
    if path.is_relative_to(Path(settings.SANDBOX_WORKSPACE_DIR).resolve()):
        shutil.rmtree(path, ignore_errors=True)


async def _refuse_if_busy(session: SandboxSession) -> None:
    if reason := await hooks.session_busy_reason(session):
        raise SessionBusy(reason)


async def session_pause(*, session: SandboxSession) -> None:
    """Stop what the sandbox runs, keep its workspace: E2B pauses it, local stops its previews."""
    from .previews import session_previews_stop

    if session.status != SandboxSession.Status.RUNNING:
        raise SessionNotReady(f"The sandbox is {session.get_status_display().lower()}.")
    await _refuse_if_busy(session)
    await hooks.before_stop(session)
    await session_previews_stop(session=session)
    backend = get_backend(session.backend)
    client = backend.client()
    sdk_session = await _resume(backend, client, session)
    await backend.pause(sdk_session)
    session.sdk_state = _stored_state(backend, client, sdk_session)
    session.status = SandboxSession.Status.PAUSED
    session.timeout_at = None
    await session.asave(update_fields=["sdk_state", "status", "timeout_at"])


async def session_stop_soon(*, session: SandboxSession, pause: bool = False) -> str | None:
    """Shut down (or pause) the session now, or, when stopping it takes a while (a higher
    layer has work to do in it first: sandboxes.hooks), in the background; then the reason."""
    from .tasks import session_pause_task, session_shutdown_task

    require_here(session)
    if pause:
        if session.status != SandboxSession.Status.RUNNING:
            raise SessionNotReady(f"The sandbox is {session.get_status_display().lower()}.")
        await _refuse_if_busy(session)
    if reason := await hooks.stop_delay_reason(session):
        task = session_pause_task if pause else session_shutdown_task
        await task_for(task, session).aenqueue(session.pk)
        return reason
    if pause:
        await session_pause(session=session)
    else:
        await session_shutdown(session=session)
    return None


async def session_stop_in_background(*, session_id: int, pause: bool) -> None:
    """The background half of session_stop_soon; a failure is the session's last error."""
    session = await SandboxSession.objects.aget(pk=session_id)
    try:
        if pause:
            await session_pause(session=session)
        elif session.status != SandboxSession.Status.STOPPED:
            await session_shutdown(session=session)
    except Exception as error:
        logger.warning("Stopping session %s failed", session_id, exc_info=True)
        await SandboxSession.objects.filter(pk=session_id).aupdate(
            last_error=f"{'Pausing' if pause else 'Shutting down'} failed: {describe_error(error)}"[
                :2000
            ]
        )


async def session_resume(*, session: SandboxSession) -> None:
    """Bring a paused sandbox back; it is attached once, so a failure shows here, not later."""
    if session.status != SandboxSession.Status.PAUSED:
        raise SessionNotReady(f"The sandbox is {session.get_status_display().lower()}.")
    session.status = SandboxSession.Status.RUNNING
    session.timeout_at = _timeout_at(get_backend(session.backend), session)
    await session.asave(update_fields=["status", "timeout_at"])
    async with sandbox_attached(session):
        pass


def session_touch(*, session: SandboxSession) -> None:
    """Something happened on a local sandbox (a run started): its idle deadline starts again."""
    if session.is_local and session.timeout_at is not None:
        seconds = get_backend(session.backend).timeout_seconds(session.options) or 0
        session.timeout_at = timezone.now() + timedelta(seconds=seconds)
        SandboxSession.objects.filter(pk=session.pk).update(timeout_at=session.timeout_at)


async def session_extend(*, session: SandboxSession, seconds: int) -> None:
    """Push the provider's timeout `seconds` from now (E2B's set_timeout)."""
    backend = get_backend(session.backend)
    if not session.is_local:  # a local sandbox's idle limit is the dashboard's own
        async with sandbox_attached(session) as sdk_session:
            await backend.extend(sdk_session, seconds)
    session.timeout_at = timezone.now() + timedelta(seconds=seconds)
    await session.asave(update_fields=["timeout_at"])


async def session_release_after_crash(*, session: SandboxSession) -> None:
    """A run died with the process executing it: stop what it left running in its sandbox.

    Local: processes in the workspace (previews excepted). Elsewhere: attach and stop, which
    ends the SDK's own processes. The workspace itself is kept.
    """
    if session.elsewhere:
        logger.warning("Session %s: %s", session.pk, elsewhere_reason(session))
        return
    if session.is_local:
        previews = Preview.objects.filter(session=session).active()
        keep = {p.pid async for p in previews if p.pid}
        if session.workspace_root:
            await sync_to_async(kill_processes_under)(
                session.workspace_root,
                base=str(settings.SANDBOX_WORKSPACE_DIR),
                keep_groups=keep,
            )
        return
    if session.status == SandboxSession.Status.RUNNING:
        try:
            async with sandbox_attached(session) as sdk_session:
                await sdk_session.pty_terminate_all()
        except Exception:
            logger.warning("Releasing session %s after a crash failed", session.pk, exc_info=True)
