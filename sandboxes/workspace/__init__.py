"""The workspace browser: a session's file tree, one file, its changes, a zip, and a console.

Local sessions are read straight from disk; remote ones (E2B) through the SDK of an attached
sandbox. Which of the two serves a session is chosen once, in `_opened`; the functions below
check that the workspace can be opened, then ask it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import IO

from asgiref.sync import sync_to_async

from ..models import Manifest, SandboxSession
from .base import (
    DIFF_LIMIT,
    TREE_LIMIT,
    VIEW_LIMIT,
    ZIP_LIMIT,
    Changes,
    FileDiff,
    FileMissing,
    FileView,
    Node,
    PathRefused,
    Tree,
    WorkspaceError,
    WorkspaceUnavailable,
    check_available,
    file_diff,
    file_view,
    relative_path,
    unavailable_reason,
)
from .commands import CONSOLE_OUTPUT_LIMIT, CONSOLE_TIMEOUT, amount, check_command, console
from .files import SKIPPED_DIRS, local_changes, local_listing
from .local import LocalWorkspace
from .remote import RemoteWorkspace

__all__ = [
    "CONSOLE_OUTPUT_LIMIT",
    "CONSOLE_TIMEOUT",
    "DIFF_LIMIT",
    "SKIPPED_DIRS",
    "TREE_LIMIT",
    "VIEW_LIMIT",
    "ZIP_LIMIT",
    "Changes",
    "FileDiff",
    "FileMissing",
    "FileView",
    "Node",
    "PathRefused",
    "Tree",
    "WorkspaceError",
    "WorkspaceUnavailable",
    "amount",
    "between",
    "changes",
    "check_available",
    "check_command",
    "console",
    "file_chunks",
    "listing",
    "read_file",
    "relative_path",
    "tree",
    "unavailable_reason",
    "workspace_changes",
    "zip_file",
]

CHUNK = 64 * 1024


@contextlib.asynccontextmanager
async def _opened(session: SandboxSession) -> AsyncIterator[LocalWorkspace | RemoteWorkspace]:
    if session.is_local:
        yield await sync_to_async(LocalWorkspace)(session)
    else:
        async with RemoteWorkspace.attached(session) as remote:
            yield remote


def listing(session: SandboxSession) -> list[dict]:
    """Files of a local session's workspace for its page (read from disk, never blocks a run);
    empty for other backends, whose sandboxes only open on demand."""
    root = session.workspace_root
    if not session.is_local or session.elsewhere or not root or not os.path.isdir(root):
        return []
    return local_listing(root)


def workspace_changes(session: SandboxSession, manifest: Manifest) -> list[dict]:
    """What the agents changed in a local workspace against its starter (paths and kinds)."""
    root = session.workspace_root
    if not session.is_local or session.elsewhere or not root or not os.path.isdir(root):
        return []
    return local_changes(root, manifest.file_contents())


async def tree(session: SandboxSession) -> Tree:
    await check_available(session)
    original = None
    if session.is_local and session.manifest_id is not None:
        manifest = await Manifest.objects.filter(pk=session.manifest_id).afirst()
        original = await sync_to_async(manifest.file_contents)() if manifest else None
    async with _opened(session) as workspace:
        return await workspace.tree(original)


async def read_file(session: SandboxSession, path: str) -> FileView:
    await check_available(session)
    relative_path(path)  # refuse a bad path before anything is opened
    async with _opened(session) as workspace:
        data, size = await workspace.read(path, VIEW_LIMIT)
    return file_view(path, data, size)


async def _diffs(workspace, original: dict[str, bytes]) -> list[FileDiff]:
    """Each file of an opened workspace that differs from `original` (path -> bytes)."""
    files = []
    for change in await workspace.changed_files(original):
        path, kind = change["path"], change["change"]
        new, note = None, ""
        if kind != "deleted":
            try:
                new, _ = await workspace.read(path, DIFF_LIMIT + 1)
            except WorkspaceError as error:
                note = str(error)
        if (diff := file_diff(path, kind, original.get(path), new, note)) is not None:
            files.append(diff)
    return files


async def changes(session: SandboxSession) -> Changes:
    """Each file the agents added, modified or deleted since the starter, as a diff."""
    await check_available(session)
    manifest = await Manifest.objects.filter(pk=session.manifest_id).afirst()
    if manifest is None:
        return Changes(manifest_name="", files=[], manifest_missing=True)
    original = await sync_to_async(manifest.file_contents)()
    async with _opened(session) as workspace:
        files = await _diffs(workspace, original)
    return Changes(manifest_name=manifest.name, files=files)


async def between(first: SandboxSession, second: SandboxSession) -> Changes:
    """What differs from `first`'s workspace to `second`'s, file by file (two versions of one
    starter, say). `first`'s files are its starter's with its own changes applied, so only
    what either changed is ever read."""
    await check_available(first)
    await check_available(second)
    manifest = await Manifest.objects.filter(pk=first.manifest_id).afirst()
    starter = await sync_to_async(manifest.file_contents)() if manifest else {}
    contents = dict(starter)
    async with _opened(first) as workspace:
        for change in await workspace.changed_files(starter):
            if change["change"] == "deleted":
                contents.pop(change["path"], None)
            else:
                contents[change["path"]], _ = await workspace.read(change["path"], DIFF_LIMIT + 1)
    async with _opened(second) as workspace:
        files = await _diffs(workspace, contents)
    return Changes(manifest_name=first.name, files=files)


async def zip_file(session: SandboxSession) -> IO[bytes]:
    """A zip of the workspace in a temporary file (the caller closes it)."""
    await check_available(session)
    async with _opened(session) as workspace:
        return await workspace.zip()


async def file_chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    """A file's bytes in chunks, closing it at the end (or when the download is abandoned)."""
    try:
        while chunk := await sync_to_async(handle.read, thread_sensitive=False)(CHUNK):
            yield chunk
    finally:
        handle.close()
