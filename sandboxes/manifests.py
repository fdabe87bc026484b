"""Manifests, fully: create, edit, clone, delete, zip in and out, with validation that either
accepts a whole file set or refuses it with every reason, never saving half of it.

Binary files are kept base64-encoded and written into the sandbox after it starts, outside
the SDK manifest, because binary `File` content breaks the SDK's state serialization.
"""

from __future__ import annotations

import base64
import io
import lzma
import posixpath
import zipfile
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from .models import Manifest, ManifestEntry

MAX_FILES = 2000
MAX_PATH = 300


class ManifestInvalid(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class FileSpec:
    path: str
    data: bytes


def check_path(path: str) -> str | None:
    """Why this path cannot be in a manifest, or None."""
    if not path or not path.strip():
        return "a file has an empty path"
    if len(path) > MAX_PATH:
        return f"{path[:40]}…: path longer than {MAX_PATH} characters"
    if "\\" in path or "\x00" in path:
        return f"{path}: backslashes and NUL bytes are not allowed"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return f"{path}: absolute paths are not allowed"
    parts = path.split("/")
    if ".." in parts:
        return f"{path}: '..' is not allowed"
    if any(part in ("", ".") for part in parts):
        return f"{path}: empty or '.' path segments are not allowed"
    return None


def validate(files: list[FileSpec]) -> list[FileSpec]:
    """The file set, or ManifestInvalid with every reason it cannot be saved."""
    errors = []
    seen: set[str] = set()
    total = 0
    if len(files) > MAX_FILES:
        errors.append(f"{len(files)} files: at most {MAX_FILES}")
    for spec in files:
        if reason := check_path(spec.path):
            errors.append(reason)
            continue
        if spec.path in seen:
            errors.append(f"{spec.path}: duplicate path")
        seen.add(spec.path)
        if len(spec.data) > settings.MANIFEST_FILE_LIMIT:
            errors.append(
                f"{spec.path}: {len(spec.data):,} bytes, over the "
                f"{settings.MANIFEST_FILE_LIMIT:,}-byte limit per file"
            )
        total += len(spec.data)
    if total > settings.MANIFEST_TOTAL_LIMIT:
        errors.append(f"{total:,} bytes in all, over the {settings.MANIFEST_TOTAL_LIMIT:,} limit")
    # A file and a directory of the same name cannot both exist.
    for path in seen:
        for parent in _parents(path):
            if parent in seen:
                errors.append(f"{parent}: is both a file and the folder of {path}")
    if errors:
        raise ManifestInvalid(sorted(set(errors), key=errors.index))
    return files


def _parents(path: str) -> list[str]:
    parents = []
    while (path := posixpath.dirname(path)) not in ("", "/"):
        parents.append(path)
    return parents


def _entry(manifest: Manifest, spec: FileSpec) -> ManifestEntry:
    try:
        return ManifestEntry(manifest=manifest, path=spec.path, content=spec.data.decode("utf-8"))
    except UnicodeDecodeError:
        return ManifestEntry(
            manifest=manifest,
            path=spec.path,
            content=base64.b64encode(spec.data).decode(),
            is_binary=True,
        )


@transaction.atomic
def manifest_save(
    *,
    owner,
    name: str,
    description: str = "",
    files: list[FileSpec],
    manifest: Manifest | None = None,
    build: tuple[str, str] | None = None,
) -> Manifest:
    """Create, or replace the whole file set of, an owner's manifest; all or nothing.

    `build`: its production build's (command, output folder), blank for the defaults; None
    keeps what it has."""
    if not name.strip():
        raise ManifestInvalid(["give the manifest a name"])
    validate(files)
    if build is not None:
        _validate_build(*build)
    if manifest is None:
        manifest = Manifest.objects.create(owner=owner, name=name, description=description)
    else:
        if manifest.is_builtin or manifest.owner_id != owner.pk:
            raise ManifestInvalid(["built-in and other users' manifests are read-only"])
        manifest.name, manifest.description = name, description
    if build is not None:
        manifest.build_command, manifest.build_output = build[0].strip(), build[1].strip()
    manifest.save()
    manifest.entries.all().delete()
    ManifestEntry.objects.bulk_create([_entry(manifest, spec) for spec in files])
    return manifest


def _validate_build(command: str, output: str) -> None:
    output = output.strip()
    problems = []
    if len(command) > 500:
        problems.append("the build command has at most 500 characters")
    parts = output.split("/")
    if output and (output.startswith("/") or ".." in parts or "\x00" in output or "\\" in output):
        problems.append(
            f"the build output folder “{output}” must be a folder inside the workspace, like dist"
        )
    if problems:
        raise ManifestInvalid(problems)


def files_with(files: list[FileSpec], spec: FileSpec, *, replacing: str = "") -> list[FileSpec]:
    """The file set with `spec` added, replacing the file at its path (and at `replacing`,
    the path it had before a rename)."""
    replaced = {spec.path, replacing}
    return [f for f in files if f.path not in replaced] + [spec]


def files_without(files: list[FileSpec], path: str) -> list[FileSpec]:
    return [f for f in files if f.path != path]


def manifest_files(manifest: Manifest) -> list[FileSpec]:
    return [FileSpec(path, data) for path, data in manifest.file_contents().items()]


def manifest_clone(*, manifest: Manifest, owner) -> Manifest:
    return manifest_save(
        owner=owner,
        name=f"{manifest.name} (copy)",
        description=manifest.description,
        files=manifest_files(manifest),
        build=(manifest.build_command, manifest.build_output),
    )


def manifest_delete(*, manifest: Manifest, owner) -> None:
    if manifest.is_builtin or manifest.owner_id != owner.pk:
        raise ManifestInvalid(["built-in and other users' manifests cannot be deleted"])
    manifest.delete()


def files_from_zip(data: bytes) -> list[FileSpec]:
    """Files of a zip archive; a single top folder (as GitHub zips have) is stripped."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
        raise ManifestInvalid(["that upload is not a zip archive"]) from error
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_FILES:
        raise ManifestInvalid([f"{len(members)} files: at most {MAX_FILES}"])
    total = sum(m.file_size for m in members)
    if total > settings.MANIFEST_TOTAL_LIMIT:  # checked before inflating anything
        raise ManifestInvalid(
            [f"{total:,} bytes unpacked, over the {settings.MANIFEST_TOTAL_LIMIT:,} limit"]
        )
    names = [m.filename for m in members]
    tops = {name.split("/", 1)[0] for name in names}
    strip = len(tops) == 1 and all("/" in name for name in names)
    files, unreadable = [], []
    for member in members:
        path = member.filename.split("/", 1)[1] if strip else member.filename
        if member.file_size > settings.MANIFEST_FILE_LIMIT:
            files.append(FileSpec(path, b"\0" * (settings.MANIFEST_FILE_LIMIT + 1)))
            continue
        try:
            files.append(FileSpec(path, _read_member(archive, member)))
        except ManifestInvalid as error:
            unreadable += error.errors
    if unreadable:
        raise ManifestInvalid(unreadable)
    return files


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """A member's bytes, or ManifestInvalid saying why it cannot be read."""
    if member.flag_bits & 0x1:
        raise ManifestInvalid([f"{member.filename}: encrypted; upload a zip without a password"])
    try:
        return archive.read(member)
    except NotImplementedError:
        raise ManifestInvalid(
            [
                f"{member.filename}: packed with a compression method this server cannot read "
                "(use deflate, the default of most zip tools)"
            ]
        ) from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, lzma.LZMAError) as err:
        raise ManifestInvalid(
            [f"{member.filename}: the zip is damaged here ({err}); make the zip again"]
        ) from None


def files_from_folder(uploads: list, paths: list[str]) -> list[FileSpec]:
    """Files of an uploaded folder (<input webkitdirectory>): each upload with the relative path
    the browser gave it; the chosen folder itself is stripped."""
    if len(uploads) != len(paths):
        raise ManifestInvalid(["the folder upload lost its file paths; try again"])
    if len(uploads) > MAX_FILES:
        raise ManifestInvalid([f"{len(uploads)} files: at most {MAX_FILES}"])
    total = sum(upload.size for upload in uploads)
    if total > settings.MANIFEST_TOTAL_LIMIT:
        raise ManifestInvalid(
            [f"{total:,} bytes, over the {settings.MANIFEST_TOTAL_LIMIT:,} limit"]
        )
    strip = len({p.split("/", 1)[0] for p in paths}) == 1 and all("/" in p for p in paths)
    return [
        FileSpec(path.split("/", 1)[1] if strip else path, upload.read())
        for upload, path in zip(uploads, paths, strict=True)
    ]


def manifest_zip(manifest: Manifest) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for spec in manifest_files(manifest):
            archive.writestr(spec.path, spec.data)
    return buffer.getvalue()
