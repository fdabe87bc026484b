"""Snapshots: shares that outlive their sandboxes.

Creating a share link, and stopping (shutting down, pausing) a sandbox that live share links
show, builds each shared preview's app for production in its sandbox (the manifest's build
command, `npm run build` by default) and stores the output in the "snapshots" storage, with the
version's summary. When the sandbox no longer serves the preview, the preview proxy serves the
snapshot on the preview's own origin to that share's viewers (`share_static_site`, registered
in ComparisonsConfig.ready()). Snapshots go with their share link: revoked, expired or deleted
(with its comparison too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from datetime import timedelta
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lib.errors import describe_error
from runs.models import Run
from sandboxes.builds import BuildFailed, session_build_site
from sandboxes.hosts import task_for
from sandboxes.models import (
    DEFAULT_BUILD_COMMAND,
    DEFAULT_BUILD_OUTPUT,
    Preview,
    SandboxSession,
    Screenshot,
)
from sandboxes.screenshots import screenshot_take
from sandboxes.static_sites import StaticSite

from .models import ShareLink, Snapshot, Version

logger = logging.getLogger(__name__)

STORAGE = "snapshots"
WAIT_POLL_SECONDS = 0.5


def _storage():
    return storages[STORAGE]


def live_shares():
    return ShareLink.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


def shared_previews(share: ShareLink) -> list[tuple[Version | None, Preview]]:
    """(version, preview) of every preview a share shows."""
    if share.preview_id is not None:
        return [(None, share.preview)]
    if share.comparison_id is None:
        return []  # a run or conversation share shows no app
    versions = Version.objects.filter(comparison_id=share.comparison_id, preview__isnull=False)
    return [(version, version.preview) for version in versions.select_related("preview")]


# --- requests and builds ------------------------------------------------------------------------


def snapshot_request(*, share: ShareLink, preview: Preview, version: Version | None = None):
    """Queue a (re)build of the share's snapshot of `preview`; one already under way is kept."""
    from .tasks import snapshot_build_task

    snapshot, created = Snapshot.objects.get_or_create(
        share=share, preview=preview, defaults={"version": version}
    )
    stale = timezone.now() - timedelta(seconds=settings.SHARE_SNAPSHOT_BUILD_SECONDS + 60)
    if not created and snapshot.status == Snapshot.Status.BUILDING:
        if snapshot.requested_at > stale:
            return snapshot  # its build is queued or running
    Snapshot.objects.filter(pk=snapshot.pk).update(
        status=Snapshot.Status.BUILDING, error="", requested_at=timezone.now()
    )
    snapshot.refresh_from_db()
    task = task_for(snapshot_build_task, preview.session)  # built on the sandbox's machine
    transaction.on_commit(lambda: task.enqueue(snapshot.pk))
    return snapshot


def share_snapshots_start(*, share: ShareLink) -> list[Snapshot]:
    """At share time: a snapshot of every shared preview whose sandbox is there to build it."""
    return [
        snapshot_request(share=share, preview=preview, version=version)
        for version, preview in shared_previews(share)
        if preview.session.status == SandboxSession.Status.RUNNING
    ]


def _build_settings(session: SandboxSession) -> tuple[str, str]:
    if session.manifest is None:
        return DEFAULT_BUILD_COMMAND, DEFAULT_BUILD_OUTPUT
    return session.manifest.build_settings


def _store(files: dict[str, bytes], prefix: str) -> None:
    storage = _storage()
    for path, data in files.items():
        storage.save(prefix + path, ContentFile(data))


def site_delete(prefix: str, files) -> None:
    """Delete a stored site's files (never raises: a file already gone is fine)."""
    if not prefix:
        return
    storage = _storage()
    for path in files:
        try:
            storage.delete(prefix + path)
        except Exception:
            logger.warning("Deleting snapshot file %s%s failed", prefix, path, exc_info=True)
    _remove_empty_folders(storage, prefix)


def _remove_empty_folders(storage, prefix: str) -> None:
    """On a file system, the folders the site's files were in (up to the share's own)."""
    try:
        top = Path(storage.path(prefix.split("/", 1)[0]))
        folder = Path(storage.path(prefix))
    except (NotImplementedError, SuspiciousFileOperation):
        return  # object storage has no folders
    if not folder.is_dir():
        return
    for dirpath, _dirnames, _files in os.walk(folder, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)  # only empty ones go
    for parent in folder.parents:
        if parent == top.parent or not parent.is_relative_to(top):
            break
        with contextlib.suppress(OSError):
            parent.rmdir()


async def _fail(snapshot: Snapshot, error: str, log: str = "") -> None:
    await Snapshot.objects.filter(pk=snapshot.pk).aupdate(
        status=Snapshot.Status.FAILED, error=error[:2000], log=log
    )


async def _photograph(preview: Preview, run: Run | None) -> Screenshot | None:
    """A screenshot of the running app beside its snapshot: the preview's own newest one if
    it was taken after the run the snapshot is of (the version's "ready" picture), else a new
    one. None is no failure."""
    fresh = Screenshot.objects.filter(preview=preview).order_by("-created_at", "-pk")
    if run is not None and run.finished_at is not None:
        fresh = fresh.filter(created_at__gte=run.finished_at)
    if shot := await fresh.afirst():
        return shot
    if not settings.SHARE_SNAPSHOT_SCREENSHOTS:
        return None
    await preview.arefresh_from_db(fields=["status"])
    if preview.status != Preview.Status.READY:
        return None
    try:
        return await screenshot_take(session=preview.session, preview=preview)
    except Exception:
        logger.warning("No screenshot for the snapshot of preview %s", preview.pk, exc_info=True)
        return None


async def snapshot_build(*, snapshot_id: int) -> None:
    """Build the app in its sandbox and store it; any failure is recorded on the snapshot (the
    files of the previous successful build, if any, stay served)."""
    snapshot = (
        await Snapshot.objects.select_related("share", "preview__session__manifest", "version__run")
        .filter(pk=snapshot_id)
        .afirst()
    )
    if snapshot is None:
        return
    if not snapshot.share.is_valid:
        await snapshot.adelete()
        return
    if snapshot.preview is None:
        await _fail(snapshot, "The preview this snapshot was of is gone.")
        return
    session = snapshot.preview.session
    if session.status != SandboxSession.Status.RUNNING:
        await _fail(
            snapshot,
            f"The sandbox is {session.get_status_display().lower()}: there is nothing to "
            "build from. Resume it to refresh the snapshot.",
        )
        return
    command, output = await sync_to_async(_build_settings)(session)
    run = await (
        Run.objects.filter(session=session, finished_at__isnull=False)
        .order_by("-created_at", "-pk")
        .afirst()
    )
    try:
        site = await session_build_site(
            session=session,
            command=command,
            output=output,
            limit=settings.SHARE_SNAPSHOT_SIZE_LIMIT,
            seconds=settings.SHARE_SNAPSHOT_BUILD_SECONDS,
        )
        if "index.html" not in site.files:
            raise BuildFailed(f"The build wrote no index.html in “{output}/”.", site.log)
    except BuildFailed as error:
        await _fail(snapshot, str(error), error.log)
        return
    except Exception as error:
        logger.warning("Snapshot %s failed", snapshot_id, exc_info=True)
        await _fail(snapshot, describe_error(error))
        return

    prefix = f"{snapshot.share_id}/{snapshot.pk}/{uuid.uuid4().hex}/"
    try:
        await sync_to_async(_store, thread_sensitive=False)(site.files, prefix)
    except Exception as error:
        logger.warning("Storing snapshot %s failed", snapshot_id, exc_info=True)
        await sync_to_async(site_delete)(prefix, site.files)
        await _fail(snapshot, f"Storing the snapshot failed: {describe_error(error)}", site.log)
        return
    shot = await _photograph(snapshot.preview, run)
    previous = await Snapshot.objects.filter(pk=snapshot.pk).values("site_prefix", "files").afirst()
    updated = await Snapshot.objects.filter(pk=snapshot.pk).aupdate(
        status=Snapshot.Status.READY,
        error="",
        log=site.log,
        site_prefix=prefix,
        files={path: len(data) for path, data in site.files.items()},
        size=site.size,
        built_at=timezone.now(),
        run=run,
        summary=(run.final_output if run else "") or "",
        screenshot=shot,
    )
    if not updated:  # deleted meanwhile (revoked, its comparison deleted)
        await sync_to_async(site_delete)(prefix, site.files)
    elif previous:
        await sync_to_async(site_delete)(previous["site_prefix"], previous["files"])


# --- sandboxes that stop --------------------------------------------------------------------------


def _session_snapshots_due(
    session: SandboxSession,
) -> list[tuple[ShareLink, Version | None, Preview]]:
    """Live shares' previews in this sandbox whose snapshot is missing, failed, or older than
    the sandbox's latest finished run."""
    shares = live_shares().filter(
        Q(preview__session=session) | Q(comparison__versions__session=session)
    )
    latest = (
        Run.objects.filter(session=session, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    due = []
    for share in shares.distinct():
        for version, preview in shared_previews(share):
            if preview.session_id != session.pk:
                continue
            snapshot = Snapshot.objects.filter(share=share, preview=preview).first()
            if (
                snapshot is None
                or snapshot.status == Snapshot.Status.BUILDING
                or not snapshot.has_site
                or (latest is not None and snapshot.built_at < latest)
            ):
                due.append((share, version, preview))
    return due


async def session_shares_live(session: SandboxSession) -> str | None:
    """Why a sandbox must not be deleted (a delete refusal for sandboxes.hooks): a live share
    link shows it, and its snapshot is served through the sandbox's preview rows."""
    count = await (
        live_shares()
        .filter(Q(preview__session=session) | Q(comparison__versions__session=session))
        .distinct()
        .acount()
    )
    if not count:
        return None
    links = f"{count} live share link{'s' if count != 1 else ''}"
    return (
        f"{links} show{'s' if count == 1 else ''} it. Revoke {'it' if count == 1 else 'them'} "
        "first, or shut the sandbox down instead: shares keep showing its snapshot."
    )


async def session_snapshots_pending(session: SandboxSession) -> str | None:
    """Why stopping this sandbox takes a while (a stop delay for sandboxes.hooks), or None."""
    if session.status != SandboxSession.Status.RUNNING:
        return None
    due = await sync_to_async(_session_snapshots_due)(session)
    if not due:
        return None
    return f"its {len(due)} shared preview{'s' if len(due) != 1 else ''} are snapshotted"


async def _wait_until_built(snapshot_id: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.SHARE_SNAPSHOT_BUILD_SECONDS + 30
    while loop.time() < deadline:
        status = await (
            Snapshot.objects.filter(pk=snapshot_id).values_list("status", flat=True).afirst()
        )
        if status != Snapshot.Status.BUILDING:
            return
        await asyncio.sleep(WAIT_POLL_SECONDS)


async def session_snapshots_take(session: SandboxSession) -> None:
    """Before a sandbox stops (a hook of sandboxes.hooks): snapshot what live shares show of
    it, while it can still build. A build already under way is waited for."""
    if session.status != SandboxSession.Status.RUNNING:
        return
    for share, version, preview in await sync_to_async(_session_snapshots_due)(session):
        snapshot, created = await Snapshot.objects.aget_or_create(
            share=share, preview=preview, defaults={"version": version}
        )
        if not created and snapshot.status == Snapshot.Status.BUILDING:
            await _wait_until_built(snapshot.pk)
            await snapshot.arefresh_from_db()
            if snapshot.has_site and snapshot.status == Snapshot.Status.READY:
                continue
        await Snapshot.objects.filter(pk=snapshot.pk).aupdate(
            status=Snapshot.Status.BUILDING, error="", requested_at=timezone.now()
        )
        await snapshot_build(snapshot_id=snapshot.pk)


# --- serving --------------------------------------------------------------------------------------


async def share_static_site(share_id: int, preview: Preview) -> StaticSite | None:
    """The snapshot a share's viewers see for a preview that is not running (a static
    source for sandboxes.static_sites): only while the share is live."""
    snapshot = await (
        Snapshot.objects.filter(
            share_id=share_id,
            preview=preview,
            share__revoked_at__isnull=True,
            share__expires_at__gt=timezone.now(),
        )
        .exclude(site_prefix="")
        .afirst()
    )
    if snapshot is None or not snapshot.has_site:
        return None
    return StaticSite(
        storage=STORAGE,
        prefix=snapshot.site_prefix,
        files=snapshot.files,
        version=f"{snapshot.pk}.{int(snapshot.built_at.timestamp())}",
    )


REAP_SECONDS = 600


async def reap_expired_snapshots() -> int:
    """Delete the snapshots (and files) of links that expired: nothing can open them again."""
    count = 0
    async for snapshot in Snapshot.objects.filter(share__expires_at__lte=timezone.now()):
        await snapshot.adelete()
        count += 1
    return count


async def reap_snapshots_forever() -> None:
    while True:
        try:
            if count := await reap_expired_snapshots():
                logger.warning("Reaper: %d snapshots of expired share links deleted", count)
        except Exception:
            logger.exception("Snapshot reaper pass failed")
        await asyncio.sleep(REAP_SECONDS)


def share_snapshots_delete(*, share: ShareLink) -> int:
    """Delete a share's snapshots and their files (on revoke)."""
    count, _ = share.snapshots.all().delete()
    return count


def snapshot_files_deleted(sender, instance: Snapshot, **kwargs) -> None:
    """post_delete of a Snapshot (itself, its share, its comparison): its files go too, once
    the deletion is committed."""
    prefix, files = instance.site_prefix, dict(instance.files)
    transaction.on_commit(lambda: site_delete(prefix, files))
