"""The preview supervisor: start a dev server in a sandbox, follow its log, probe its port.

Local sandboxes share this machine's ports, so each preview gets a free host port, and its
process group is recorded so that any dashboard process can stop it. A command that exits, or
a port that never answers within PREVIEW_BOOT_SECONDS, ends the preview as failed with its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shlex
import shutil
import signal
import socket
from datetime import timedelta
from pathlib import Path

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from .models import Preview, SandboxSession
from .services import describe_error

logger = logging.getLogger(__name__)

LOG_LIMIT = 64_000
PROBE_SECONDS = 0.25


def free_host_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def preview_create(
    *, session: SandboxSession, port: int = Preview.DEFAULT_PORT, command: str = ""
) -> Preview:
    """Record a preview and start it in the background."""
    from django.db import transaction

    from .tasks import run_preview

    with transaction.atomic():
        preview = Preview.objects.create(
            session=session, port=port, command=command or Preview.DEFAULT_COMMAND
        )
        transaction.on_commit(lambda: run_preview.enqueue(preview.pk))
    return preview


class PreviewLog:
    """Collects a command's output and flushes it to the row a few times a second."""

    def __init__(self, preview: Preview) -> None:
        self.preview = preview
        self.pending = ""

    def write(self, text: str) -> None:
        self.pending += text

    async def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending = self.pending, ""
        log = (self.preview.log + chunk)[-LOG_LIMIT:]
        self.preview.log = log
        await Preview.objects.filter(pk=self.preview.pk).aupdate(log=log)


async def _set(preview: Preview, log: PreviewLog | None = None, **fields) -> None:
    for name, value in fields.items():
        setattr(preview, name, value)
    await Preview.objects.filter(pk=preview.pk).aupdate(**fields)
    if log is not None:
        await log.flush()


async def run_preview(*, preview_id: int) -> None:
    preview = await Preview.objects.select_related("session").aget(pk=preview_id)
    if preview.status != Preview.Status.STARTING:
        return
    log = PreviewLog(preview)
    try:
        if preview.session.backend == SandboxSession.Backend.LOCAL:
            await _run_local(preview, log)
        else:
            await _run_remote(preview, log)
    except Exception as error:
        logger.warning("Preview %s failed", preview_id, exc_info=True)
        await stop_process_group(preview.pid)
        await _set(
            preview,
            log,
            status=Preview.Status.FAILED,
            error=describe_error(error),
            stopped_at=timezone.now(),
        )


async def _allocate_host_port(preview: Preview) -> int:
    for _ in range(20):
        port = free_host_port()
        try:
            await Preview.objects.filter(pk=preview.pk).aupdate(host_port=port)
        except IntegrityError:
            continue  # another live preview holds it: try the next free port
        preview.host_port = port
        return port
    raise RuntimeError("No free host port for the preview.")


def _modules_key(root: Path) -> str | None:
    manifest = root / "package.json"
    if not manifest.is_file():
        return None
    digest = hashlib.sha256(manifest.read_bytes())
    lock = root / "package-lock.json"
    if lock.is_file():
        digest.update(lock.read_bytes())
    return digest.hexdigest()[:24]


def warm_node_modules(root: Path, key: str | None = None) -> str | None:
    """Hard-link a node_modules installed earlier for the same package.json, if any.

    Repeated versions of one manifest then skip most of `npm install`: the npm cache is already
    shared (same user), and this also skips unpacking. Returns what happened, for the log.
    """
    key = key or _modules_key(root)
    cached = settings.PREVIEW_MODULES_CACHE / key if key else None
    if cached is None or (root / "node_modules").exists() or not cached.is_dir():
        return None
    shutil.copytree(cached, root / "node_modules", copy_function=os.link, symlinks=True)
    return f"[dashboard] reused node_modules from an earlier install ({key})\n"


def remember_node_modules(root: Path, key: str | None = None) -> None:
    key = key or _modules_key(root)
    modules = root / "node_modules"
    if key is None or not modules.is_dir():
        return
    cached = settings.PREVIEW_MODULES_CACHE / key
    if cached.exists():
        return
    partial = cached.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(
            modules,
            partial,
            copy_function=os.link,
            symlinks=True,
            ignore=shutil.ignore_patterns(".vite", ".cache"),
        )
        partial.rename(cached)
    except OSError:
        logger.warning("Could not cache node_modules", exc_info=True)
        shutil.rmtree(partial, ignore_errors=True)


def _plain_env() -> dict[str, str]:
    # Only the sandbox allowlist (no dashboard secrets); and no FORCE_COLOR: any value turns
    # colours *on* for Vite's logger, NO_COLOR turns them off.
    from .backends import sandbox_environment

    return sandbox_environment()


def log_path(preview: Preview) -> Path:
    return settings.PREVIEW_LOG_DIR / f"{preview.pk}.log"


async def _run_local(preview: Preview, log: PreviewLog) -> None:
    """Boot a local dev server: returns once it answers (or fails); the server keeps running.

    Its output goes to a file, not a pipe, so nothing has to keep reading it (a full pipe
    would freeze the server) and the boot task ends: a db_worker runs one task at a time.
    """
    root = Path(preview.session.workspace_root)
    if not await sync_to_async(root.is_dir)():
        raise RuntimeError("The sandbox's workspace is gone; the sandbox is not running.")
    host_port = await _allocate_host_port(preview)
    command = preview.command.format(host="127.0.0.1", port=host_port)
    # The key is taken before `npm install` writes a lockfile, so the next workspace with the
    # same package.json finds it.
    modules_key = await sync_to_async(_modules_key)(root)
    if note := await sync_to_async(warm_node_modules)(root, modules_key):
        log.write(note)
    log.write(f"$ {command}\n")
    path = log_path(preview)
    await sync_to_async(path.parent.mkdir)(parents=True, exist_ok=True)
    with open(path, "wb") as output:  # noqa: ASYNC230 - opening a file to hand to the child
        process = await asyncio.create_subprocess_shell(
            command,
            cwd=root,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() kills the whole tree
            env={**_plain_env(), "PORT": str(host_port), "BROWSER": "none", "NO_COLOR": "1"},
        )
    await _set(
        preview,
        log,
        pid=process.pid,
        upstream_url=f"http://127.0.0.1:{host_port}/",
        started_at=timezone.now(),
    )
    try:
        await _wait_until_ready(preview, log, process, LogFollower(path, log))
    except BaseException:
        await stop_process_group(process.pid)
        raise
    if preview.status != Preview.Status.READY:
        # Stopped while booting, possibly before its process group was recorded: stop wins.
        await stop_process_group(process.pid)
        return
    await sync_to_async(remember_node_modules)(root, modules_key)


class LogFollower:
    """Copies what a process wrote to its log file into the preview's log."""

    def __init__(self, path: Path, log: PreviewLog) -> None:
        self.path = path
        self.log = log
        self.offset = 0

    def _read(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode("utf-8", errors="replace")

    async def poll(self) -> None:
        if text := await sync_to_async(self._read)():
            self.log.write(text)
        await self.log.flush()


def current_log(preview: Preview) -> str:
    """The log as the page shows it: the live file for a running local preview."""
    path = log_path(preview)
    if preview.session.backend != SandboxSession.Backend.LOCAL or not path.exists():
        return preview.log
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - LOG_LIMIT))
        tail = f.read().decode("utf-8", errors="replace")
    head = preview.log.split("\n", 2)
    # The first lines are the dashboard's own notes and the command; the rest is the file.
    notes = "".join(line + "\n" for line in head[:2] if line.startswith(("$ ", "[dashboard]")))
    return notes + tail


async def _wait_until_ready(
    preview: Preview, log: PreviewLog, process, follower: LogFollower
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.PREVIEW_BOOT_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            await follower.poll()
            if process.returncode is not None:
                raise RuntimeError(
                    f"The command exited with code {process.returncode} before the port "
                    f"{preview.host_port} answered; see the log."
                )
            await preview.arefresh_from_db(fields=["status"])
            if preview.status != Preview.Status.STARTING:
                return  # stopped meanwhile
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(preview.upstream_url, headers={"host": "localhost"})
                if response.status_code < 500:
                    await _set(preview, log, status=Preview.Status.READY, ready_at=timezone.now())
                    return
            if loop.time() > deadline:
                raise RuntimeError(
                    f"Port {preview.host_port} never answered within "
                    f"{settings.PREVIEW_BOOT_SECONDS} s; see the log."
                )
            await asyncio.sleep(PROBE_SECONDS)


async def _run_remote(preview: Preview, log: PreviewLog) -> None:
    """A remote sandbox (E2B): start the command in the background there, probe its URL."""
    from .services import sandbox_attached

    session = preview.session
    command = preview.command.format(host="0.0.0.0", port=preview.port)
    logfile = f"/tmp/dashboard-preview-{preview.pk}.log"
    async with sandbox_attached(session) as sdk_session:
        log.write(f"$ {command}\n")
        await sdk_session.exec(
            f"nohup sh -c {shlex.quote(command)} > {logfile} 2>&1 &", shell=True, timeout=30
        )
        endpoint = await sdk_session.resolve_exposed_port(preview.port)
        url = endpoint.url_for("http")
        await _set(preview, log, upstream_url=url, started_at=timezone.now())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.PREVIEW_BOOT_SECONDS
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                result = await sdk_session.exec(f"tail -c 8000 {logfile}", shell=True, timeout=10)
                preview.log = ""
                log.pending = result.stdout.decode("utf-8", errors="replace")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code < 500:
                        await _set(
                            preview, log, status=Preview.Status.READY, ready_at=timezone.now()
                        )
                        return
                await log.flush()
                if loop.time() > deadline:
                    raise RuntimeError(
                        f"Port {preview.port} never answered within "
                        f"{settings.PREVIEW_BOOT_SECONDS} s; see the log."
                    )
                await asyncio.sleep(1)


async def stop_process_group(pid: int | None, *, grace: float = 3.0) -> None:
    """SIGTERM the group, then SIGKILL what is left after `grace` seconds."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        if not await sync_to_async(process_group_alive)(pid):
            return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def process_group_alive(pid: int | None) -> bool:
    """Whether any process of the group still runs. Zombies don't count: killpg(pgid, 0)
    succeeds on them, and where nothing reaps orphans (PID 1 without an init) they linger."""
    if not pid:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After "(comm)": state, ppid, pgrp.
        if int(fields[2]) == pid and fields[0] != "Z":
            return True
    return False


async def preview_check(*, preview: Preview) -> Preview:
    """A ready local preview whose dev server died ends failed, with the reason."""
    is_local = preview.session.backend == SandboxSession.Backend.LOCAL
    if preview.status == Preview.Status.READY and is_local and not process_group_alive(preview.pid):
        await _set(
            preview,
            status=Preview.Status.FAILED,
            error="The dev server exited after it was ready; see the log, then restart.",
            stopped_at=timezone.now(),
        )
    return preview


async def preview_stop(*, preview: Preview) -> None:
    await Preview.objects.filter(pk=preview.pk).aupdate(
        status=Preview.Status.STOPPED, stopped_at=timezone.now()
    )
    await stop_process_group(preview.pid)
    await preview.arefresh_from_db()


async def preview_restart(*, preview: Preview) -> Preview:
    """Stop it and start it again on a fresh port, same command."""
    from .tasks import run_preview

    await preview_stop(preview=preview)
    await Preview.objects.filter(pk=preview.pk).aupdate(
        status=Preview.Status.STARTING,
        log="",
        error="",
        host_port=None,
        pid=None,
        upstream_url="",
        started_at=None,
        ready_at=None,
        stopped_at=None,
    )
    await preview.arefresh_from_db()
    run_preview.enqueue(preview.pk)
    return preview


async def session_previews_stop(*, session: SandboxSession) -> None:
    async for preview in Preview.objects.filter(
        session=session, status__in=Preview.ACTIVE_STATUSES
    ):
        await preview_stop(preview=preview)


async def reap_previews() -> int:
    """Previews whose dev server died end failed; boots that no task finishes end failed too
    (the process that ran them stopped) and what they started is stopped."""
    count = 0
    ready = Preview.objects.filter(status=Preview.Status.READY).select_related("session")
    async for preview in ready:
        if (await preview_check(preview=preview)).status == Preview.Status.FAILED:
            count += 1
    cutoff = timezone.now() - timedelta(seconds=settings.PREVIEW_BOOT_SECONDS + 60)
    async for preview in Preview.objects.filter(
        status=Preview.Status.STARTING, created_at__lt=cutoff
    ):
        await stop_process_group(preview.pid)
        await _set(
            preview,
            status=Preview.Status.FAILED,
            error="The boot was interrupted (the dashboard process running it stopped).",
            stopped_at=timezone.now(),
        )
        count += 1
    # Processes of previews that ended but outlived it (a crash between the row and the kill).
    recent = timezone.now() - timedelta(days=1)
    ended = Preview.objects.filter(
        status__in=[Preview.Status.STOPPED, Preview.Status.FAILED],
        pid__isnull=False,
        created_at__gte=recent,
    )
    async for preview in ended:
        if await sync_to_async(process_group_alive)(preview.pid):
            await stop_process_group(preview.pid)
            count += 1
    return count
