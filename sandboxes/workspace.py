"""The workspace browser: a session's file tree, one file, its changes, a zip, and a console.

Local sessions are read straight from disk (session.workspace_root) and their console commands
run as subprocesses in the workspace folder, with output streamed as it comes. Other backends
(E2B) go through `sandbox_attached` and the SDK: each call resumes the sandbox, and a console
command's output arrives when it has finished.

Every path a visitor names is relative to the workspace and must stay inside it: `..`, absolute
paths and symbolic links that lead out are refused before anything is read.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import difflib
import io
import logging
import os
import posixpath
import shlex
import signal
import stat
import tarfile
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from agents.sandbox.errors import ExecTimeoutError
from asgiref.sync import sync_to_async

from .comparisons import workspace_changes
from .models import Manifest, SandboxSession
from .services import SKIPPED_DIRS, describe_error, sandbox_attached

logger = logging.getLogger(__name__)

VIEW_LIMIT = 200_000  # bytes of one file shown in the viewer
DIFF_LIMIT = 200_000  # bytes of one file's old or new side diffed
DIFF_LINE_LIMIT = 3_000  # diff lines shown per file
TREE_LIMIT = 3_000  # entries listed in the tree
ZIP_LIMIT = 200_000_000  # bytes of files put in a zip (node_modules and co. are skipped)
CONSOLE_TIMEOUT = 120  # seconds
CONSOLE_OUTPUT_LIMIT = 1_000_000  # bytes
CONSOLE_COMMAND_LIMIT = 4_000  # characters
CONSOLE_POLL = 0.25  # seconds between checks that the command is still running
REMOTE_TIMEOUT = 60  # seconds for the browser's own commands in a remote sandbox
CHUNK = 64 * 1024
# Not handed to console commands: the dashboard's own secrets and connection strings.
SECRET_ENV_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "DATABASE_URL", "REDIS_URL")
EXIT_MARKER = "[dashboard] exit code"


class WorkspaceError(Exception):
    """A request the workspace browser refuses; `status` is the HTTP status that says why."""

    status = 400


class WorkspaceUnavailable(WorkspaceError):
    status = 409


class PathRefused(WorkspaceError):
    status = 400


class FileMissing(WorkspaceError):
    status = 404


@dataclass
class Node:
    path: str
    name: str
    depth: int
    kind: str  # "dir", "file", "link" or "skipped" (a dir not listed, like node_modules)
    size: int | None = None
    change: str = ""  # "added" or "modified" against the starter, when known


@dataclass
class Tree:
    nodes: list[Node]
    truncated: bool = False

    @property
    def file_count(self) -> int:
        return sum(1 for node in self.nodes if node.kind in ("file", "link"))


@dataclass
class FileView:
    path: str
    size: int
    text: str | None = None  # None for binary files
    truncated: bool = False

    @property
    def binary(self) -> bool:
        return self.text is None

    @property
    def lines(self) -> list[str]:
        text = self.text or ""
        return (text[:-1] if text.endswith("\n") else text).split("\n")

    @property
    def shown(self) -> int:
        return min(self.size, VIEW_LIMIT)


@dataclass
class FileDiff:
    path: str
    change: str  # "added", "modified" or "deleted"
    lines: list[tuple[str, str]] = field(default_factory=list)  # (css class, line)
    note: str = ""
    additions: int = 0
    deletions: int = 0


@dataclass
class Changes:
    manifest_name: str
    files: list[FileDiff]
    manifest_missing: bool = False

    @property
    def additions(self) -> int:
        return sum(d.additions for d in self.files)

    @property
    def deletions(self) -> int:
        return sum(d.deletions for d in self.files)


# --- checks --------------------------------------------------------------------------------------


def is_local(session: SandboxSession) -> bool:
    return session.backend == SandboxSession.Backend.LOCAL


def unavailable_reason(session: SandboxSession) -> str | None:
    """Why the workspace cannot be opened now, or None if it can."""
    status = session.Status
    if session.status == status.CREATING:
        return "The sandbox is still being created; its workspace opens once it is running."
    if session.status == status.STOPPED:
        return (
            "This sandbox was shut down and its workspace deleted. Open a new sandbox from its "
            "starter to work again."
        )
    if session.status == status.FAILED:
        reason = f": {session.last_error}" if session.last_error else "."
        return f"This sandbox failed{reason} Its workspace cannot be opened."
    if session.status == status.PAUSED:
        return "The sandbox is paused: resume it from the sandbox page to open its workspace."
    if session.status != status.RUNNING or not session.sdk_state:
        return f"The sandbox is {session.get_status_display().lower()}; it needs to be running."
    if is_local(session):
        root = session.workspace_root
        if not root or not os.path.isdir(root):
            return f"The workspace folder {root or '(unknown)'} is gone from this machine."
    return None


async def check_available(session: SandboxSession) -> None:
    """Refuse (409) a session whose workspace cannot be opened now."""
    if reason := await sync_to_async(unavailable_reason)(session):
        raise WorkspaceUnavailable(reason)
    if not is_local(session):
        # A remote sandbox is resumed and stopped around each call: never under a running
        # agent, whose own stop would race ours.
        from runs.models import Run

        if await Run.objects.filter(session=session, status__in=Run.ACTIVE_STATUSES).aexists():
            raise WorkspaceUnavailable(
                "An agent run is using this sandbox right now; open its workspace once the run "
                "has finished."
            )


def relative_path(path: str) -> PurePosixPath:
    """A visitor's path, checked to name something below the workspace root."""
    if not path or "\x00" in path:
        raise PathRefused("Name a file, relative to the workspace.")
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise PathRefused(
            f"“{path}” is refused: paths are relative to the workspace and stay inside it."
        )
    if str(relative) == ".":
        raise PathRefused("Name a file, relative to the workspace.")
    return relative


def _local_root(session: SandboxSession) -> Path:
    return Path(session.workspace_root).resolve(strict=True)


def resolve_inside(root: Path, path: str) -> Path:
    """The real location of `path` in the workspace at `root` (resolved), or PathRefused."""
    resolved = (root / relative_path(path)).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise PathRefused(f"“{path}” leads outside the workspace (a symbolic link): refused.")
    return resolved


# --- decoding and diffing ------------------------------------------------------------------------


def decode_text(data: bytes, *, complete: bool = True) -> str | None:
    """UTF-8 text, or None for binary data. An incomplete prefix may end mid-character."""
    if b"\x00" in data:
        return None
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
    except UnicodeDecodeError:
        return None


def diff_lines(old: str, new: str) -> list[tuple[str, str]]:
    """A unified diff of two texts, as (css class, line) pairs like the run page's patches."""
    from runs.templatetags.run_events import diff_line_class

    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3)
    # The file's name is shown above the diff, so its ---/+++ header lines are left out.
    return [(diff_line_class(line), line) for line in diff if not line.startswith(("---", "+++"))]


def file_diff(
    path: str, change: str, old: bytes | None, new: bytes | None, note: str = ""
) -> FileDiff | None:
    """What changed in one file; None when nothing did (a binary file the same as before)."""
    result = FileDiff(path=path, change=change, note=note)
    if note:
        return result
    too_big = [side for side in (old, new) if side is not None and len(side) > DIFF_LIMIT]
    if too_big:
        result.note = f"Too big to diff here (over {DIFF_LIMIT // 1000} KB); download the zip."
        return result
    old_text = "" if old is None else decode_text(old)
    new_text = "" if new is None else decode_text(new)
    if old_text is None or new_text is None:
        if old is not None and new is not None and old == new:
            return None
        sizes = " → ".join(f"{len(side):,} B" for side in (old, new) if side is not None)
        result.note = f"Binary file {change} ({sizes}): not shown as text."
        return result
    if change == "modified" and old_text.rstrip("\n") == new_text.rstrip("\n"):
        return None
    lines = diff_lines(old_text, new_text)
    result.additions = sum(1 for cls, _ in lines if cls == "d-add")
    result.deletions = sum(1 for cls, _ in lines if cls == "d-del")
    if len(lines) > DIFF_LINE_LIMIT:
        lines = lines[:DIFF_LINE_LIMIT]
        result.note = f"Only the first {DIFF_LINE_LIMIT:,} lines of this diff are shown."
    result.lines = lines
    return result


def changes_between(original: dict[str, bytes], current: dict[str, bytes]) -> list[dict]:
    """Files added, modified or deleted, as sandboxes.comparisons.workspace_changes lists them
    (for a workspace known only by its files' contents, like a remote sandbox's)."""
    changes = []
    for path in sorted(current):
        if path not in original:
            if path != "package-lock.json":
                changes.append({"path": path, "change": "added"})
        elif current[path] != original[path]:
            changes.append({"path": path, "change": "modified"})
    changes += [{"path": p, "change": "deleted"} for p in sorted(set(original) - set(current))]
    return changes


def _in_skipped_dir(path: str, extra: tuple[str, ...] = ()) -> bool:
    parts = PurePosixPath(path).parts[:-1]
    return any(part in SKIPPED_DIRS or part in extra for part in parts)


# --- the tree ------------------------------------------------------------------------------------


def build_tree(entries: list[tuple[str, int | None, str]], truncated: bool = False) -> Tree:
    """Nodes in display order (directories first, then files, by name) from (kind, size, path)
    entries in any order."""
    children: dict[str, list[tuple[str, int | None, str]]] = defaultdict(list)
    for kind, size, path in entries:
        children[posixpath.dirname(path)].append((kind, size, path))
    nodes: list[Node] = []

    def emit(parent: str, depth: int) -> None:
        ordered = sorted(
            children.get(parent, []),
            key=lambda e: (e[0] not in ("dir", "skipped"), posixpath.basename(e[2]).lower()),
        )
        for kind, size, path in ordered:
            nodes.append(Node(path, posixpath.basename(path), depth, kind, size))
            if kind == "dir":
                emit(path, depth + 1)

    emit("", 0)
    return Tree(nodes=nodes, truncated=truncated)


def _local_entries(root: Path) -> tuple[list[tuple[str, int | None, str]], bool]:
    entries: list[tuple[str, int | None, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):  # never follows links to directories
        listed = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                entries.append(("link", None, rel))
            elif name in SKIPPED_DIRS:
                entries.append(("skipped", None, rel))
            else:
                entries.append(("dir", None, rel))
                listed.append(name)
        dirnames[:] = listed
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            rel = os.path.relpath(full, root)
            if stat.S_ISLNK(info.st_mode):
                entries.append(("link", None, rel))
            else:
                entries.append(("file", info.st_size, rel))
        if len(entries) >= TREE_LIMIT:
            return entries[:TREE_LIMIT], True
    return entries, False


def _local_tree(session: SandboxSession) -> Tree:
    tree = build_tree(*_local_entries(_local_root(session)))
    if session.manifest is not None:
        changed = {c["path"]: c["change"] for c in workspace_changes(session, session.manifest)}
        for node in tree.nodes:
            node.change = changed.get(node.path, "")
    return tree


FIND_SCRIPT = (
    "find . -mindepth 1 \\( -type d \\( {names} \\) -printf 's\\t0\\t%P\\0' -prune \\) "
    "-o -printf '%y\\t%s\\t%P\\0' | head -z -n {limit}"
)
FIND_KINDS = {"d": "dir", "f": "file", "l": "link", "s": "skipped"}


async def _remote_tree(sdk_session, root: str) -> Tree:
    names = " -o ".join(f"-name {shlex.quote(name)}" for name in sorted(SKIPPED_DIRS))
    script = FIND_SCRIPT.format(names=names, limit=TREE_LIMIT + 1)
    output = await _remote_run(sdk_session, root, script)
    entries = []
    for record in output.split(b"\0"):
        kind, _, rest = record.decode("utf-8", errors="replace").partition("\t")
        size, _, path = rest.partition("\t")
        if kind in FIND_KINDS and path:
            entries.append((FIND_KINDS[kind], int(size) if kind == "f" else None, path))
    truncated = len(entries) > TREE_LIMIT
    return build_tree(entries[:TREE_LIMIT], truncated)


async def tree(session: SandboxSession) -> Tree:
    await check_available(session)
    if is_local(session):
        return await sync_to_async(_local_tree)(session)
    async with sandbox_attached(session) as sdk_session:
        return await _remote_tree(sdk_session, session.workspace_root)


# --- one file ------------------------------------------------------------------------------------


def _read_local(root: Path, path: str, limit: int) -> tuple[bytes, int]:
    """Up to `limit` bytes of a regular file inside the workspace, and its size."""
    target = resolve_inside(root, path)
    try:
        # No O_NOFOLLOW race: the path is resolved; NONBLOCK keeps a FIFO from hanging us.
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FileMissing(f"There is no file “{path}” in the workspace.") from None
    except OSError as error:
        raise PathRefused(f"“{path}” cannot be read: {error.strerror}.") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise PathRefused(f"“{path}” is {what}: pick a file.")
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit), info.st_size


def _file_view(path: str, data: bytes, size: int) -> FileView:
    truncated = size > len(data)
    text = decode_text(data, complete=not truncated)
    return FileView(path=path, size=size, text=text, truncated=truncated)


REALPATH_SCRIPT = """p=$(realpath -e -- {path} 2>/dev/null) || exit 3
case "$p" in "$(pwd -P)"/*) ;; *) exit 4 ;; esac
[ -f "$p" ] || exit 5
stat -c %s -- "$p"
printf '%s' "$p"
"""


async def _read_remote(sdk_session, root: str, path: str, limit: int) -> tuple[bytes, int]:
    relative = relative_path(path)
    script = REALPATH_SCRIPT.format(path=shlex.quote(str(relative)))
    result = await sdk_session.exec(_in_root(root, script), shell=True, timeout=REMOTE_TIMEOUT)
    if result.exit_code == 3:
        raise FileMissing(f"There is no file “{path}” in the workspace.")
    if result.exit_code == 4:
        raise PathRefused(f"“{path}” leads outside the workspace (a symbolic link): refused.")
    if result.exit_code == 5:
        raise PathRefused(f"“{path}” is not a regular file: pick a file.")
    if result.exit_code != 0:
        raise WorkspaceError(f"Reading “{path}” failed: {_stderr(result)}")
    size_line, _, real = result.stdout.decode().partition("\n")
    data = await sdk_session.read_bounded(Path(real), max_bytes=limit)
    return data, int(size_line)


async def read_file(session: SandboxSession, path: str) -> FileView:
    await check_available(session)
    relative_path(path)  # refuse a bad path before anything is opened
    if is_local(session):
        root = await sync_to_async(_local_root)(session)
        data, size = await sync_to_async(_read_local)(root, path, VIEW_LIMIT)
    else:
        async with sandbox_attached(session) as sdk_session:
            data, size = await _read_remote(sdk_session, session.workspace_root, path, VIEW_LIMIT)
    return _file_view(path, data, size)


# --- changes against the starter -----------------------------------------------------------------


def _manifest_files(manifest: Manifest) -> dict[str, bytes]:
    return {entry.path: entry.data for entry in manifest.entries.all()}


def _local_changes(session: SandboxSession) -> Changes:
    manifest = session.manifest
    root = _local_root(session)
    original = _manifest_files(manifest)
    files = []
    for change in workspace_changes(session, manifest):
        path, kind = change["path"], change["change"]
        new, note = None, ""
        if kind != "deleted":
            try:
                new, _ = _read_local(root, path, DIFF_LIMIT + 1)
            except WorkspaceError as error:
                note = str(error)
        diff = file_diff(path, kind, original.get(path), new, note)
        if diff is not None:
            files.append(diff)
    return Changes(manifest_name=manifest.name, files=files)


async def _remote_changes(session: SandboxSession, manifest: Manifest) -> Changes:
    async with sandbox_attached(session) as sdk_session:
        current = await _remote_files(sdk_session, session.workspace_root)
    current = {p: data for p, data in current.items() if not _in_skipped_dir(p, ("dist",))}
    original = await sync_to_async(_manifest_files)(manifest)
    files = []
    for change in changes_between(original, current):
        path = change["path"]
        diff = file_diff(path, change["change"], original.get(path), current.get(path))
        if diff is not None:
            files.append(diff)
    return Changes(manifest_name=manifest.name, files=files)


async def changes(session: SandboxSession) -> Changes:
    """Each file the agents added, modified or deleted since the starter, as a diff."""
    await check_available(session)
    manifest = await Manifest.objects.filter(pk=session.manifest_id).afirst()
    if manifest is None:
        return Changes(manifest_name="", files=[], manifest_missing=True)
    session.manifest = manifest
    if is_local(session):
        return await sync_to_async(_local_changes)(session)
    return await _remote_changes(session, manifest)


# --- zip -----------------------------------------------------------------------------------------


def _too_big() -> WorkspaceError:
    return WorkspaceError(
        f"The workspace holds more than {ZIP_LIMIT // 1_000_000} MB of files (without "
        f"{', '.join(sorted(SKIPPED_DIRS))}): too big for a zip here."
    )


def _local_zip(root: Path) -> IO[bytes]:
    output = tempfile.TemporaryFile()
    total = 0
    try:
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
                for name in sorted(filenames):
                    rel = os.path.relpath(os.path.join(dirpath, name), root)
                    try:
                        target = resolve_inside(root, rel)  # links leading out are left out
                    except WorkspaceError:
                        continue
                    if not target.is_file():
                        continue
                    total += target.stat().st_size
                    if total > ZIP_LIMIT:
                        raise _too_big()
                    archive.write(target, arcname=rel)
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return output


TAR_SCRIPT = "tar -cf - {excludes} . | base64 -w 0"


async def _remote_files(sdk_session, root: str) -> dict[str, bytes]:
    """Every regular file of a remote workspace (skipped dirs left out), by relative path."""
    excludes = " ".join(f"--exclude={shlex.quote(name)}" for name in sorted(SKIPPED_DIRS))
    output = await _remote_run(sdk_session, root, TAR_SCRIPT.format(excludes=excludes))
    if len(output) > ZIP_LIMIT * 4 // 3 + 4:
        raise _too_big()
    files = {}
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(output)), mode="r:") as archive:
        for member in archive:
            if member.isfile():  # links stay out: they could point anywhere
                path = posixpath.normpath(member.name)
                reader = archive.extractfile(member)
                if reader is not None and not path.startswith(("..", "/")):
                    files[path] = reader.read()
    return files


def _zip_of(files: dict[str, bytes]) -> IO[bytes]:
    output = tempfile.TemporaryFile()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(path, files[path])
    output.seek(0)
    return output


async def zip_file(session: SandboxSession) -> IO[bytes]:
    """A zip of the workspace in a temporary file (the caller closes it)."""
    await check_available(session)
    if is_local(session):
        root = await sync_to_async(_local_root)(session)
        return await sync_to_async(_local_zip, thread_sensitive=False)(root)
    async with sandbox_attached(session) as sdk_session:
        files = await _remote_files(sdk_session, session.workspace_root)
    return await sync_to_async(_zip_of, thread_sensitive=False)(files)


async def file_chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    """A file's bytes in chunks, closing it at the end (or when the download is abandoned)."""
    try:
        while chunk := await sync_to_async(handle.read, thread_sensitive=False)(CHUNK):
            yield chunk
    finally:
        handle.close()


# --- the console ---------------------------------------------------------------------------------


def check_command(command: str) -> str:
    command = command.strip()
    if not command:
        raise WorkspaceError("Type a command to run.")
    if len(command) > CONSOLE_COMMAND_LIMIT:
        raise WorkspaceError(f"A command has at most {CONSOLE_COMMAND_LIMIT:,} characters.")
    return command


def console_env(root: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not any(marker in name.upper() for marker in SECRET_ENV_MARKERS)
        and name not in ("FORCE_COLOR", "DJANGO_SETTINGS_MODULE")
    }
    env.update(HOME=str(root), NO_COLOR="1", TERM="dumb", PYTHONUNBUFFERED="1", CI="1")
    return env


def amount(size: int) -> str:
    return f"{size // 1_000_000} MB" if size >= 1_000_000 else f"{size:,} bytes"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _drain_and_wait(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.read(CHUNK):
        pass
    await process.wait()


def _ending(code: int | None, seconds: float, stopped: str, newline: bool) -> str:
    start = "" if newline else "\n"
    if stopped:
        return f"{start}[dashboard] {stopped}\n"
    return f"{start}{EXIT_MARKER} {code} · {seconds:.2f} s\n"


async def _local_console(root: Path, command: str) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + CONSOLE_TIMEOUT
    try:
        process = await asyncio.create_subprocess_shell(
            command,
            cwd=root,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: whatever it starts dies with it
            env=console_env(root),
        )
    except OSError as error:
        yield f"[dashboard] the command could not start: {describe_error(error)}\n"
        return
    assert process.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    sent, stopped, newline = 0, "", True
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                stopped = f"timed out after {CONSOLE_TIMEOUT} s: the command was stopped."
                break
            try:
                chunk = await asyncio.wait_for(
                    process.stdout.read(CHUNK), timeout=min(remaining, CONSOLE_POLL)
                )
            except TimeoutError:
                if process.returncode is not None:
                    break  # it exited; something it started in the background holds the pipe
                continue
            if not chunk:
                break
            if sent + len(chunk) > CONSOLE_OUTPUT_LIMIT:
                chunk = chunk[: CONSOLE_OUTPUT_LIMIT - sent]
                stopped = f"more than {amount(CONSOLE_OUTPUT_LIMIT)} of output: stopped."
            sent += len(chunk)
            if text := decoder.decode(chunk):
                newline = text.endswith("\n")
                yield text
            if stopped:
                break
        if text := decoder.decode(b"", final=True):
            newline = text.endswith("\n")
            yield text
        if not stopped:
            try:
                await asyncio.wait_for(process.wait(), timeout=max(deadline - loop.time(), 0.01))
            except TimeoutError:
                stopped = f"timed out after {CONSOLE_TIMEOUT} s: the command was stopped."
    finally:
        # Finished, stopped, or the visitor went away: nothing it started outlives it.
        _kill_group(process.pid)
        with contextlib.suppress(Exception):
            # Read the pipe to its end (its writers are dead) so that it closes, then reap.
            await asyncio.wait_for(_drain_and_wait(process), timeout=5)
    yield _ending(process.returncode, loop.time() - started, stopped, newline)


async def _remote_console(session: SandboxSession, command: str) -> AsyncIterator[str]:
    yield (
        "[dashboard] Remote sandbox: the output appears when the command has finished "
        "(it is not streamed).\n"
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with sandbox_attached(session) as sdk_session:
            result = await sdk_session.exec(
                _in_root(session.workspace_root, command), shell=True, timeout=CONSOLE_TIMEOUT
            )
    except (TimeoutError, ExecTimeoutError):
        yield f"[dashboard] timed out after {CONSOLE_TIMEOUT} s: the command was stopped.\n"
        return
    except Exception as error:
        logger.warning("Console command in session %s failed", session.pk, exc_info=True)
        yield f"[dashboard] the command could not run: {describe_error(error)}\n"
        return
    output = (result.stdout or b"") + (result.stderr or b"")
    stopped = ""
    if len(output) > CONSOLE_OUTPUT_LIMIT:
        output = output[:CONSOLE_OUTPUT_LIMIT]
        stopped = f"more than {amount(CONSOLE_OUTPUT_LIMIT)} of output: cut short."
    text = output.decode("utf-8", errors="replace")
    if text:
        yield text
    newline = not text or text.endswith("\n")
    if stopped:
        yield _ending(None, 0, stopped, newline)
        newline = True
    yield _ending(result.exit_code, loop.time() - started, "", newline)


def console(session: SandboxSession, command: str) -> AsyncIterator[str]:
    """Run `command` with sh in the workspace; its output (stdout and stderr together) as it
    comes, then a last line: `[dashboard] exit code N · T s`, or why it was stopped.

    Closing the iterator (Django does when the visitor goes away) stops the command. Call
    `check_available` and `check_command` first: this one refuses nothing.
    """
    # The generator itself, not a wrapper around it: closing a wrapper would leave it running.
    if is_local(session):
        return _local_console(Path(session.workspace_root), command)
    return _remote_console(session, command)


# --- remote helpers ------------------------------------------------------------------------------


def _in_root(root: str, script: str) -> str:
    return f"cd {shlex.quote(root)} || exit 97\n{script}"


def _stderr(result: Any) -> str:
    text = (result.stderr or b"").decode("utf-8", errors="replace").strip()
    return text[-500:] or f"exit code {result.exit_code}"


async def _remote_run(sdk_session, root: str, script: str) -> bytes:
    result = await sdk_session.exec(_in_root(root, script), shell=True, timeout=REMOTE_TIMEOUT)
    if result.exit_code != 0:
        raise WorkspaceError(f"The sandbox could not list its workspace: {_stderr(result)}")
    return result.stdout or b""
