"""A local session's workspace, read straight from disk (it never blocks a run)."""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from asgiref.sync import sync_to_async

from ..models import SandboxSession
from .base import (
    TREE_LIMIT,
    ZIP_LIMIT,
    FileMissing,
    PathRefused,
    Tree,
    WorkspaceError,
    build_tree,
    resolve_inside,
    too_big,
)
from .files import local_changes, walk


def read_local(root: Path, path: str, limit: int) -> tuple[bytes, int]:
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


def _tree(root: Path, original: Mapping[str, bytes] | None) -> Tree:
    entries = []
    truncated = False
    for entry in walk(root):
        if len(entries) == TREE_LIMIT:
            truncated = True
            break
        kind = "file" if entry.kind == "other" else entry.kind
        entries.append((kind, entry.size, entry.path))
    tree = build_tree(entries, truncated)
    if original is not None:
        changed = {c["path"]: c["change"] for c in local_changes(root, original)}
        for node in tree.nodes:
            node.change = changed.get(node.path, "")
    return tree


def _zip(root: Path) -> IO[bytes]:
    output = tempfile.TemporaryFile()
    total = 0
    try:
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in walk(root):
                if not entry.is_file_like:
                    continue
                try:
                    target = resolve_inside(root, entry.path)  # links leading out stay out
                except WorkspaceError:
                    continue
                if not target.is_file():
                    continue
                total += target.stat().st_size
                if total > ZIP_LIMIT:
                    raise too_big()
                archive.write(target, arcname=entry.path)
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return output


class LocalWorkspace:
    """The workspace folder of a local session on this machine."""

    def __init__(self, session: SandboxSession) -> None:
        self.session = session
        self.root = Path(session.workspace_root).resolve(strict=True)

    async def tree(self, original: Mapping[str, bytes] | None = None) -> Tree:
        return await sync_to_async(_tree)(self.root, original)

    async def read(self, path: str, limit: int) -> tuple[bytes, int]:
        return await sync_to_async(read_local)(self.root, path, limit)

    async def changed_files(self, original: Mapping[str, bytes]) -> list[dict[str, str]]:
        return await sync_to_async(local_changes)(self.root, original)

    async def zip(self) -> IO[bytes]:
        return await sync_to_async(_zip, thread_sensitive=False)(self.root)
