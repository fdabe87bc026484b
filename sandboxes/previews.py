"""The preview supervisor: start a dev server in a sandbox, follow its log, probe its port.

Local sandboxes share this machine's ports, so each preview gets a free host port, and its
process group is recorded so that any dashboard process can stop it. A command that exits, or
a port that never answers within PREVIEW_BOOT_SECONDS, ends the preview as failed with its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import socket
from pathlib import Path

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from lib.errors import describe_error
from lib.processes import process_group_alive, stop_process_group

from .backends import check_owner_allowed
from .environment import sandbox_environment
from .hosts import require_here, task_for
from .isolation import process_policy
from .models import Preview, SandboxSession
from .node_modules import modules_key, remember_node_modules, warm_node_modules

logger = logging.getLogger(__name__)

LOG_LIMIT = 64_000
PROBE_SECONDS = 0.25
# A command that serves an app from a folder of the workspace ("cd frontend && npm …"): its
# node_modules are cached by that folder's package.json. Plain names only, never "..".
APP_FOLDER = re.compile(r"^cd ((?:[\w-][\w.-]*)(?:/[\w-][\w.-]*)*) && ")
APP_FOLDERS = ("frontend", "web", "client")


def app_command(root: Path) -> str:
    """The default dev-server command for a workspace: at its root when it has a package.json,
    else in the first of frontend/, web/, client/ that has one (a full-stack repository)."""
    if (root / "package.json").is_file():
        return Preview.DEFAULT_COMMAND
    for folder in APP_FOLDERS:
        if (root / folder / "package.json").is_file():
            return f"cd {folder} && {Preview.DEFAULT_COMMAND}"
    return Preview.DEFAULT_COMMAND


def app_root(root: Path, command: str) -> Path:
    """Where the command's app (and its package.json) lives: the folder it cds into, or the
    workspace."""
    match = APP_FOLDER.match(command)
    return root / match[1] if match else root


def free_host_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def preview_create(
    *, session: SandboxSession, port: int = Preview.DEFAULT_PORT, command: str = ""
) -> Preview:
    """Record a preview and start it in the background. One preview per port per session: when
    one is already starting or running on `port` (a second tab, a double click), that one is
    returned and nothing new starts (a second dev server would fail on the same project)."""
    from .tasks import preview_boot_task

    with transaction.atomic():
        SandboxSession.objects.select_for_update().filter(pk=session.pk).first()
        if running := session.previews.active().filter(port=port).order_by("-pk").first():
            return running
        preview = Preview.objects.create(
            session=session, port=port, command=command or Preview.DEFAULT_COMMAND
        )
        transaction.on_commit(lambda: task_for(preview_boot_task, session).enqueue(preview.pk))
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


async def preview_set(preview: Preview, log: PreviewLog | None = None, **fields) -> None:
    """Change fields of a preview (in memory and in its row), flushing its log if given."""
    for name, value in fields.items():
        setattr(preview, name, value)
    await Preview.objects.filter(pk=preview.pk).aupdate(**fields)
    if log is not None:
        await log.flush()


async def preview_boot(*, preview_id: int) -> None:
    """Start a preview's dev server and wait until its port answers (or it fails)."""
    preview = await Preview.objects.select_related("session").aget(pk=preview_id)
    if preview.status != Preview.Status.STARTING:
        return
    log = PreviewLog(preview)
    try:
        await check_owner_allowed(preview.session)  # its owner may (still) run a server there
        require_here(preview.session)  # a local sandbox's server runs on its own machine
        if preview.session.is_local:
            await _run_local(preview, log)
        else:
            await _run_remote(preview, log)
    except Exception as error:
        logger.warning("Preview %s failed", preview_id, exc_info=True)
        await stop_process_group(preview.pid)
        await preview_set(
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
    app = app_root(root, command)
    key = await sync_to_async(modules_key)(app)
    if note := await sync_to_async(warm_node_modules)(app, key):
        log.write(note)
    log.write(f"$ {command}\n")
    path = log_path(preview)
    await sync_to_async(path.parent.mkdir)(parents=True, exist_ok=True)
    # The sandbox policy, and no FORCE_COLOR: any value turns colours *on* for Vite's
    # logger, NO_COLOR turns them off. As the sandbox account when there is one.
    policy = await sync_to_async(process_policy)(
        root, sandbox_environment(PORT=str(host_port), BROWSER="none", NO_COLOR="1")
    )
    with open(path, "wb") as output:  # noqa: ASYNC230 - opening a file to hand to the child
        process = await asyncio.create_subprocess_exec(
            *policy.shell(command),
            cwd=root,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() kills the whole tree
            env=policy.env,
        )
    await preview_set(
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
    await sync_to_async(remember_node_modules)(app, key)


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
    if not preview.session.is_local or not path.exists():
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
                    await preview_set(
                        preview, log, status=Preview.Status.READY, ready_at=timezone.now()
                    )
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
        await preview_set(preview, log, upstream_url=url, started_at=timezone.now())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.PREVIEW_BOOT_SECONDS
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                result = await sdk_session.exec(f"tail -c 8000 {logfile}", shell=True, timeout=10)
                preview.log = ""
                log.pending = result.stdout.decode("utf-8", errors="replace")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code < 500:
                        await preview_set(
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


async def preview_check(*, preview: Preview) -> Preview:
    """A ready local preview whose dev server died ends failed, with the reason."""
    session = preview.session
    if (
        preview.status == Preview.Status.READY
        and session.is_local
        and not session.elsewhere  # its processes are on another machine: not ours to check
        and not process_group_alive(preview.pid)
    ):
        await preview_set(
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
    from .tasks import preview_boot_task

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
    session = await SandboxSession.objects.aget(pk=preview.session_id)
    task_for(preview_boot_task, session).enqueue(preview.pk)
    return preview


async def session_previews_stop(*, session: SandboxSession) -> None:
    async for preview in Preview.objects.filter(session=session).active():
        await preview_stop(preview=preview)
