"""A remote session's workspace (E2B and co.), through the SDK session of an attached sandbox.

Each page resumes the sandbox and stops it again; a whole workspace is fetched as one tar, and
paths are resolved inside the sandbox, so a link there cannot lead a read outside it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import posixpath
import shlex
import tarfile
import tempfile
import zipfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO, Any

from asgiref.sync import sync_to_async

from ..models import SandboxSession
from ..services import sandbox_attached
from .base import (
    TREE_LIMIT,
    ZIP_LIMIT,
    FileMissing,
    PathRefused,
    Tree,
    WorkspaceError,
    build_tree,
    relative_path,
    too_big,
)
from .files import BUILD_DIRS, SKIPPED_DIRS, detect_changes, in_dirs

REMOTE_TIMEOUT = 60  # seconds for the browser's own commands in a remote sandbox

FIND_SCRIPT = (
    "find . -mindepth 1 \\( -type d \\( {names} \\) -printf 's\\t0\\t%P\\0' -prune \\) "
    "-o -printf '%y\\t%s\\t%P\\0' | head -z -n {limit}"
)
FIND_KINDS = {"d": "dir", "f": "file", "l": "link", "s": "skipped"}
REALPATH_SCRIPT = """p=$(realpath -e -- {path} 2>/dev/null) || exit 3
case "$p" in "$(pwd -P)"/*) ;; *) exit 4 ;; esac
[ -f "$p" ] || exit 5
stat -c %s -- "$p"
printf '%s' "$p"
"""
TAR_SCRIPT = "tar -cf - {excludes} . | base64 -w 0"


def in_root(root: str, script: str) -> str:
    return f"cd {shlex.quote(root)} || exit 97\n{script}"


def _stderr(result: Any) -> str:
    text = (result.stderr or b"").decode("utf-8", errors="replace").strip()
    return text[-500:] or f"exit code {result.exit_code}"


def _zip_of(files: dict[str, bytes]) -> IO[bytes]:
    output = tempfile.TemporaryFile()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(path, files[path])
    output.seek(0)
    return output


class RemoteWorkspace:
    """The workspace of a remote session, read through its attached SDK session."""

    def __init__(self, session: SandboxSession, sdk_session: Any) -> None:
        self.session = session
        self.sdk_session = sdk_session
        self.root = session.workspace_root
        self._files: dict[str, bytes] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def attached(cls, session: SandboxSession) -> AsyncIterator[RemoteWorkspace]:
        async with sandbox_attached(session) as sdk_session:
            yield cls(session, sdk_session)

    async def _run(self, script: str) -> bytes:
        result = await self.sdk_session.exec(
            in_root(self.root, script), shell=True, timeout=REMOTE_TIMEOUT
        )
        if result.exit_code != 0:
            raise WorkspaceError(f"The sandbox could not list its workspace: {_stderr(result)}")
        return result.stdout or b""

    async def tree(self, original: Mapping[str, bytes] | None = None) -> Tree:
        names = " -o ".join(f"-name {shlex.quote(name)}" for name in sorted(SKIPPED_DIRS))
        output = await self._run(FIND_SCRIPT.format(names=names, limit=TREE_LIMIT + 1))
        entries = []
        for record in output.split(b"\0"):
            kind, _, rest = record.decode("utf-8", errors="replace").partition("\t")
            size, _, path = rest.partition("\t")
            if kind in FIND_KINDS and path:
                entries.append((FIND_KINDS[kind], int(size) if kind == "f" else None, path))
        return build_tree(entries[:TREE_LIMIT], len(entries) > TREE_LIMIT)

    async def read(self, path: str, limit: int) -> tuple[bytes, int]:
        relative = relative_path(path)
        if self._files is not None and str(relative) in self._files:
            data = self._files[str(relative)]
            return data[:limit], len(data)
        script = REALPATH_SCRIPT.format(path=shlex.quote(str(relative)))
        result = await self.sdk_session.exec(
            in_root(self.root, script), shell=True, timeout=REMOTE_TIMEOUT
        )
        if result.exit_code == 3:
            raise FileMissing(f"There is no file “{path}” in the workspace.")
        if result.exit_code == 4:
            raise PathRefused(f"“{path}” leads outside the workspace (a symbolic link): refused.")
        if result.exit_code == 5:
            raise PathRefused(f"“{path}” is not a regular file: pick a file.")
        if result.exit_code != 0:
            raise WorkspaceError(f"Reading “{path}” failed: {_stderr(result)}")
        size_line, _, real = result.stdout.decode().partition("\n")
        data = await self.sdk_session.read_bounded(Path(real), max_bytes=limit)
        return data, int(size_line)

    async def files(self) -> dict[str, bytes]:
        """Every regular file (skipped dirs left out), by relative path; fetched once."""
        if self._files is None:
            excludes = " ".join(f"--exclude={shlex.quote(name)}" for name in sorted(SKIPPED_DIRS))
            output = await self._run(TAR_SCRIPT.format(excludes=excludes))
            if len(output) > ZIP_LIMIT * 4 // 3 + 4:
                raise too_big()
            files = {}
            with tarfile.open(fileobj=io.BytesIO(base64.b64decode(output)), mode="r:") as tar:
                for member in tar:
                    if member.isfile():  # links stay out: they could point anywhere
                        path = posixpath.normpath(member.name)
                        reader = tar.extractfile(member)
                        if reader is not None and not path.startswith(("..", "/")):
                            files[path] = reader.read()
            self._files = files
        return self._files

    async def changed_files(self, original: Mapping[str, bytes]) -> list[dict[str, str]]:
        current = {p: d for p, d in (await self.files()).items() if not in_dirs(p, BUILD_DIRS)}
        return detect_changes(original, sorted(current), current.get)

    async def zip(self) -> IO[bytes]:
        return await sync_to_async(_zip_of, thread_sensitive=False)(await self.files())
