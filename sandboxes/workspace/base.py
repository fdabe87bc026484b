"""What the workspace browser shows and refuses: its errors, its shapes, and its checks.

Every path a visitor names is relative to the workspace and must stay inside it: `..`, absolute
paths and symbolic links that lead out are refused before anything is read.
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from asgiref.sync import sync_to_async

from lib.diffs import decode_text, diff_lines

from .. import hooks
from ..backends import BackendUnavailable, check_owner_allowed
from ..hosts import elsewhere_reason
from ..models import SandboxSession
from .files import SKIPPED_DIRS

VIEW_LIMIT = 200_000  # bytes of one file shown in the viewer
DIFF_LIMIT = 200_000  # bytes of one file's old or new side diffed
DIFF_LINE_LIMIT = 3_000  # diff lines shown per file
TREE_LIMIT = 3_000  # entries listed in the tree
ZIP_LIMIT = 200_000_000  # bytes of files put in a zip (node_modules and co. are skipped)


class WorkspaceError(Exception):
    """A request the workspace browser refuses; `status` is the HTTP status that says why."""

    status = 400


def too_big() -> WorkspaceError:
    return WorkspaceError(
        f"The workspace holds more than {ZIP_LIMIT // 1_000_000} MB of files (without "
        f"{', '.join(sorted(SKIPPED_DIRS))}): too big for a zip here."
    )


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
    if session.elsewhere:
        return elsewhere_reason(session)
    if session.is_local:
        root = session.workspace_root
        if not root or not os.path.isdir(root):
            return f"The workspace folder {root or '(unknown)'} is gone from this machine."
    return None


async def check_available(session: SandboxSession) -> None:
    """Refuse (409) a session whose workspace cannot be opened now."""
    if reason := await sync_to_async(unavailable_reason)(session):
        raise WorkspaceUnavailable(reason)
    try:
        await check_owner_allowed(session)  # its owner may (still) run commands there
    except BackendUnavailable as error:
        raise WorkspaceUnavailable(str(error)) from None
    # A remote sandbox is resumed and stopped around each call: never under a running agent,
    # whose own stop would race ours.
    if not session.is_local and await hooks.session_busy_reason(session):
        raise WorkspaceUnavailable(
            "An agent run is using this sandbox right now; open its workspace once the run has "
            "finished."
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


def resolve_inside(root: Path, path: str) -> Path:
    """The real location of `path` in the workspace at `root` (resolved), or PathRefused."""
    resolved = (root / relative_path(path)).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise PathRefused(f"“{path}” leads outside the workspace (a symbolic link): refused.")
    return resolved


# --- the tree and diffs --------------------------------------------------------------------------


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


def file_view(path: str, data: bytes, size: int) -> FileView:
    truncated = size > len(data)
    text = decode_text(data, complete=not truncated)
    return FileView(path=path, size=size, text=text, truncated=truncated)
