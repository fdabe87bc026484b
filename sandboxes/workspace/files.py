"""The one workspace walker and the one change detector.

Everything that lists a local workspace (the session page, the tree, the zip, what changed)
walks it here; everything that says what an agent changed (local or remote) asks
`detect_changes`. Neither follows a link out of the workspace or reads a FIFO.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Folders listed by name but never walked: installed dependencies, VCS data, caches.
SKIPPED_DIRS = frozenset({"node_modules", ".git", "__pycache__", ".venv"})
# Build output: in the workspace, but not something an agent changed.
BUILD_DIRS = frozenset({"dist"})
# Written by tools, not by the agent (npm install writes a lockfile).
GENERATED_FILES = frozenset({"package-lock.json"})
LISTING_LIMIT = 500  # files shown on the session page


@dataclass(frozen=True)
class Entry:
    kind: str  # "dir", "file", "link", "skipped" (a dir not walked) or "other" (FIFO, socket)
    path: str  # relative to the workspace root, with /
    size: int | None = None

    @property
    def is_file_like(self) -> bool:
        return self.kind in ("file", "link", "other")


def walk(root: str | Path, *, skip: frozenset[str] = SKIPPED_DIRS) -> Iterator[Entry]:
    """Every entry below `root`, top-down, names sorted; links are reported, never followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        walked = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                yield Entry("link", rel)
            elif name in skip:
                yield Entry("skipped", rel)
            else:
                yield Entry("dir", rel)
                walked.append(name)
        dirnames[:] = walked
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            rel = os.path.relpath(full, root)
            if stat.S_ISLNK(info.st_mode):
                yield Entry("link", rel)
            elif stat.S_ISREG(info.st_mode):
                yield Entry("file", rel, info.st_size)
            else:
                yield Entry("other", rel)


def in_dirs(path: str, names: frozenset[str]) -> bool:
    """Whether a relative path lies inside a folder with one of `names`."""
    return any(part in names for part in PurePosixPath(path).parts[:-1])


def detect_changes(
    original: Mapping[str, bytes],
    current: Iterable[str],
    read: Callable[[str], bytes | None],
) -> list[dict[str, str]]:
    """Files added, modified or deleted against `original`, in `current`'s order, deletions
    last. `read(path)` gives a current file's bytes, or None for one that is not a regular
    file (a link, a FIFO), which counts as modified. Trailing newlines are not a change."""
    changes = []
    seen = set()
    for path in current:
        seen.add(path)
        if path not in original:
            if path not in GENERATED_FILES:
                changes.append({"path": path, "change": "added"})
            continue
        data = read(path)
        if data is None or data.rstrip(b"\n") != original[path].rstrip(b"\n"):
            changes.append({"path": path, "change": "modified"})
    changes += [{"path": p, "change": "deleted"} for p in sorted(set(original) - seen)]
    return changes


def read_regular(root: str | Path, path: str) -> bytes | None:
    """A regular file's bytes below `root`; None for anything else (never follows a link)."""
    full = os.path.join(root, path)
    try:
        if not stat.S_ISREG(os.lstat(full).st_mode):
            return None
        return Path(full).read_bytes()
    except OSError:
        return None


def local_changes(root: str | Path, original: Mapping[str, bytes]) -> list[dict[str, str]]:
    """What changed in a local workspace against `original` (path -> bytes)."""
    paths = [e.path for e in walk(root, skip=SKIPPED_DIRS | BUILD_DIRS) if e.is_file_like]
    return detect_changes(original, paths, lambda path: read_regular(root, path))


def local_listing(root: str | Path, limit: int = LISTING_LIMIT) -> list[dict]:
    """The first `limit` files of a local workspace with their sizes (the session page)."""
    files: list[dict] = []
    for entry in walk(root):
        if entry.is_file_like:
            files.append({"path": entry.path, "size": entry.size})
            if len(files) >= limit:
                break
    return files
