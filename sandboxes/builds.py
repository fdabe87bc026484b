"""Production builds of a sandbox's app: run the manifest's build command in the sandbox, then
copy its output folder out, as static files a share link can keep after the sandbox is gone.

The build runs where the app lives (a local workspace as the sandbox account, or a remote
sandbox through the SDK), and so does the copy: the output folder leaves the sandbox as a tar
made by the sandbox itself, so the dashboard never walks a tree the sandbox controls. Only
regular files under the output folder are kept (links, devices and paths that climb out are
dropped), and a build larger than the limit is refused with its size.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from asgiref.sync import sync_to_async

from lib.processes import kill_group

from .environment import sandbox_environment
from .isolation import process_policy
from .models import DEFAULT_BUILD_COMMAND, SandboxSession
from .workspace.base import WorkspaceError, relative_path, resolve_inside
from .workspace.commands import amount
from .workspace.files import walk

logger = logging.getLogger(__name__)

LOG_LIMIT = 8_000  # characters of the build's output kept
FILE_COUNT_LIMIT = 5_000
INSTALL_FIRST = "[ -d node_modules ] || npm install --prefer-offline --no-audit --no-fund"


class BuildFailed(Exception):
    """The build did not give a site; the message says why (and `log` what it printed)."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class BuildTooLarge(BuildFailed):
    pass


@dataclass
class BuiltSite:
    files: dict[str, bytes] = field(default_factory=dict)
    log: str = ""

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.files.values())


def too_large(size: int, limit: int) -> BuildTooLarge:
    return BuildTooLarge(
        f"The build is {amount(size)}; a snapshot holds at most {amount(limit)} "
        "(SHARE_SNAPSHOT_SIZE_LIMIT). Make the app smaller, or raise the limit."
    )


def build_script(command: str) -> str:
    """The default (`npm run build`) installs the dependencies first if the preview never did."""
    return f"{INSTALL_FIRST} && {command}" if command == DEFAULT_BUILD_COMMAND else command


def site_from_tar(data: bytes, limit: int) -> dict[str, bytes]:
    """path -> bytes of the regular files in a tar of the output folder."""
    files: dict[str, bytes] = {}
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            if not member.isfile():
                continue  # folders, links, devices: nothing a static site needs
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts:
                continue
            name = str(path)
            if name in ("", "."):
                continue
            total += member.size
            if total > limit:
                raise too_large(total, limit)
            if len(files) >= FILE_COUNT_LIMIT:
                raise BuildFailed(f"The build has more than {FILE_COUNT_LIMIT:,} files.")
            handle = archive.extractfile(member)
            files[name] = handle.read() if handle else b""
    return files


def _tail(text: str) -> str:
    return text[-LOG_LIMIT:]


async def session_build_site(
    *, session: SandboxSession, command: str, output: str, limit: int, seconds: float
) -> BuiltSite:
    """Build the app in the session's sandbox and copy out its output folder."""
    try:
        relative_path(output)
    except WorkspaceError as error:
        raise BuildFailed(f"The build's output folder is refused: {error}") from None
    if session.is_local:
        return await _build_local(session, command, output, limit, seconds)
    return await _build_remote(session, command, output, limit, seconds)


async def _run_local(
    argv: list[str], root: Path, env: dict, seconds: float, cap: int, *, log: bool
):
    """(exit code, output up to `cap` bytes, overflowed) of a sandbox process: stdout and
    stderr together for a `log`, stdout alone (stderr dropped) for data."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=root,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if log else asyncio.subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    assert process.stdout is not None
    chunks, size, overflow = [], 0, False

    async def read() -> None:
        nonlocal chunks, size, overflow
        while chunk := await process.stdout.read(64 * 1024):
            if log:  # a log keeps its tail, however long the build talks
                chunks = [(b"".join(chunks) + chunk)[-cap:]]
                continue
            if size + len(chunk) > cap:
                overflow = True
                chunk = chunk[: cap - size]
            chunks.append(chunk)
            size += len(chunk)
            if overflow:
                kill_group(process.pid)
                break
        await process.wait()

    try:
        await asyncio.wait_for(read(), timeout=seconds)
    except TimeoutError:
        raise BuildFailed(
            f"The build did not finish within {int(seconds)} s (SHARE_SNAPSHOT_BUILD_SECONDS).",
            _tail(b"".join(chunks).decode("utf-8", errors="replace")),
        ) from None
    finally:
        kill_group(process.pid)  # nothing the build started outlives it
    return process.returncode, b"".join(chunks), overflow


def _local_output(root: Path, output: str, limit: int) -> tuple[Path, int]:
    """The output folder (inside the workspace) and the size of its regular files."""
    try:
        folder = resolve_inside(root, output)
    except WorkspaceError as error:
        raise BuildFailed(str(error)) from None
    if not folder.is_dir():
        raise BuildFailed(f"The build wrote no “{output}/” folder in the workspace.")
    size = sum(entry.size or 0 for entry in walk(folder, skip=frozenset()) if entry.kind == "file")
    if size > limit:
        raise too_large(size, limit)
    return folder, size


async def _build_local(session, command, output, limit, seconds) -> BuiltSite:
    root = Path(session.workspace_root)
    if not session.workspace_root or not await sync_to_async(root.is_dir)():
        raise BuildFailed("The sandbox's workspace is gone: nothing to build.")
    policy = await sync_to_async(process_policy)(
        root, sandbox_environment(NO_COLOR="1", BROWSER="none", CI="1")
    )
    script = build_script(command)
    code, out, _ = await _run_local(
        policy.shell(script), root, policy.env, seconds, LOG_LIMIT * 4, log=True
    )
    log = _tail(f"$ {script}\n" + out.decode("utf-8", errors="replace"))
    if code != 0:
        raise BuildFailed(f"The build command exited with code {code}; see its log.", log)
    folder, size = await sync_to_async(_local_output)(root, output, limit)
    # The tar is made as the sandbox account: it reads the folder, the dashboard reads the tar.
    cap = size + 1024 * (FILE_COUNT_LIMIT + 20)
    code, data, overflow = await _run_local(
        policy.argv("tar", "-cf", "-", "-C", str(folder), "."),
        root,
        policy.env,
        seconds,
        cap,
        log=False,
    )
    if overflow:
        raise too_large(len(data), limit)
    if code != 0:
        raise BuildFailed(f"Copying “{output}/” out of the sandbox failed (tar: {code}).", log)
    return BuiltSite(files=await sync_to_async(site_from_tar)(data, limit), log=log)


async def _build_remote(session, command, output, limit, seconds) -> BuiltSite:
    from .services import sandbox_attached
    from .workspace.remote import in_root

    script = build_script(command)
    folder = shlex.quote(output)
    async with sandbox_attached(session) as sdk_session:
        result = await sdk_session.exec(
            in_root(session.workspace_root, f"({script}) 2>&1"), shell=True, timeout=seconds
        )
        log = _tail(f"$ {script}\n" + (result.stdout or b"").decode("utf-8", errors="replace"))
        if result.exit_code != 0:
            raise BuildFailed(
                f"The build command exited with code {result.exit_code}; see its log.", log
            )
        sized = await sdk_session.exec(
            in_root(
                session.workspace_root,
                f'd=$(realpath -e -- {folder}) && case "$d" in "$(pwd -P)"/*) ;; *) exit 4 ;; '
                f'esac && [ -d "$d" ] && find "$d" -type f -printf "%s\\n" | '
                "awk '{s+=$1} END {print s+0}'",
            ),
            shell=True,
            timeout=60,
        )
        if sized.exit_code == 4:
            raise BuildFailed(f"“{output}” leads outside the workspace (a symbolic link).", log)
        if sized.exit_code != 0:
            raise BuildFailed(f"The build wrote no “{output}/” folder in the workspace.", log)
        size = int((sized.stdout or b"0").strip() or 0)
        if size > limit:
            raise too_large(size, limit)
        packed = await sdk_session.exec(
            in_root(session.workspace_root, f"tar -cf - -C {folder} . | base64 -w 0"),
            shell=True,
            timeout=seconds,
        )
        if packed.exit_code != 0:
            raise BuildFailed(f"Copying “{output}/” out of the sandbox failed.", log)
    data = base64.b64decode(packed.stdout or b"")
    return BuiltSite(files=await sync_to_async(site_from_tar)(data, limit), log=log)
