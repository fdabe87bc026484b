"""Versions side by side: one starter, one agent config, several prompts, one sandbox each.

Each version is built by one background task: create its sandbox, run the agent, and when the
run succeeds start the preview. Versions build concurrently and fail independently.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import stat
from datetime import timedelta
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Comparison, Manifest, Preview, SandboxSession, ShareLink, Version
from .services import SKIPPED_DIRS, describe_error, session_start

logger = logging.getLogger(__name__)

MIN_VERSIONS, MAX_VERSIONS = 2, 6


class ComparisonRefused(Exception):
    pass


def comparison_create(
    *,
    owner,
    manifest: Manifest,
    title: str,
    config: dict,
    prompts: list[tuple[str, str]],
    backend_id: str = SandboxSession.Backend.LOCAL,
) -> Comparison:
    """Create a comparison with one version per (label, prompt) and start building them all."""
    if not MIN_VERSIONS <= len(prompts) <= MAX_VERSIONS:
        raise ComparisonRefused(
            f"A comparison has {MIN_VERSIONS} to {MAX_VERSIONS} versions, not {len(prompts)}."
        )
    with transaction.atomic():
        comparison = Comparison.objects.create(
            owner=owner,
            manifest=manifest,
            title=title or manifest.name,
            config=config | {"backend": backend_id},
        )
        for label, prompt in prompts:
            version_add(comparison=comparison, label=label, prompt=prompt)
    return comparison


def version_add(*, comparison: Comparison, label: str, prompt: str) -> Version:
    from .tasks import build_version

    if not prompt.strip():
        raise ComparisonRefused("Each version needs a prompt.")
    if comparison.versions.count() >= MAX_VERSIONS:
        raise ComparisonRefused(f"A comparison shows at most {MAX_VERSIONS} versions.")
    position = comparison.versions.count()
    version = Version.objects.create(
        comparison=comparison,
        label=label.strip() or f"Version {position + 1}",
        prompt=prompt.strip(),
        position=position,
    )
    transaction.on_commit(lambda: build_version.enqueue(version.pk))
    return version


async def _stage(version: Version, stage: str, **fields) -> None:
    version.stage = stage
    for name, value in fields.items():
        setattr(version, name, value)
    await version.asave(update_fields=["stage", *fields])


async def version_build(*, version_id: int) -> None:
    from runs.executor import run_execute
    from runs.models import Run

    from .previews import run_preview

    version = await Version.objects.select_related("comparison").aget(pk=version_id)
    comparison = version.comparison
    if version.session_id is not None:
        return  # already building (the task ran twice)
    try:
        manifest = await Manifest.objects.aget(pk=comparison.manifest_id)
        session = await SandboxSession.objects.acreate(
            owner_id=comparison.owner_id,
            manifest=manifest,
            name=f"{comparison.title}: {version.label}",
            backend=comparison.config.get("backend", SandboxSession.Backend.LOCAL),
            options={"exposed_ports": [Preview.DEFAULT_PORT]},
        )
        await _stage(version, Version.Stage.SANDBOX, session=session)
        await session_start(session_id=session.pk)
        await session.arefresh_from_db()
        if session.status != SandboxSession.Status.RUNNING:
            raise RuntimeError(f"The sandbox failed to start: {session.last_error}")

        run = await Run.objects.acreate(
            owner_id=comparison.owner_id,
            session=session,
            config=comparison.config,
            prompt=version.prompt,
        )
        await _stage(version, Version.Stage.RUNNING, run=run)
        await run_execute(run_id=run.pk)
        await run.arefresh_from_db()
        files = await sync_to_async(workspace_changes)(session, manifest)
        if run.status != Run.Status.SUCCEEDED:
            await _stage(
                version,
                Version.Stage.FAILED,
                files_changed=files,
                error=f"The run {run.get_status_display().lower()}: {run.error}",
            )
            return

        preview = await Preview.objects.acreate(session=session, command=Preview.DEFAULT_COMMAND)
        await _stage(version, Version.Stage.PREVIEW, preview=preview, files_changed=files)
        await run_preview(preview_id=preview.pk)  # returns once the app answers, or failed
        await preview.arefresh_from_db(fields=["status", "error"])
        if preview.status == Preview.Status.READY:
            await _stage(version, Version.Stage.READY)
        else:
            await _stage(
                version, Version.Stage.FAILED, error=f"The preview failed: {preview.error}"
            )
    except Exception as error:
        logger.warning("Version %s failed", version_id, exc_info=True)
        await _stage(version, Version.Stage.FAILED, error=describe_error(error))


def workspace_changes(session: SandboxSession, manifest: Manifest) -> list[dict]:
    """What the agents changed: files added, modified or deleted against the manifest."""
    root = session.workspace_root
    if session.backend != SandboxSession.Backend.LOCAL or not root or not os.path.isdir(root):
        return []
    original = {e.path: e.data for e in manifest.entries.all()}
    changes = []
    seen = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and d != "dist")
        for filename in sorted(filenames):
            full = os.path.join(dirpath, filename)
            path = os.path.relpath(full, root)
            seen.add(path)
            if path not in original:
                if path != "package-lock.json":
                    changes.append({"path": path, "change": "added"})
                continue
            # Only regular files are read: a link may lead out of the workspace, a FIFO blocks.
            if not stat.S_ISREG(os.lstat(full).st_mode):
                changes.append({"path": path, "change": "modified"})
                continue
            current = Path(full).read_bytes()
            if current.rstrip(b"\n") != original[path].rstrip(b"\n"):
                changes.append({"path": path, "change": "modified"})
    changes += [{"path": p, "change": "deleted"} for p in sorted(set(original) - seen)]
    return changes


# --- share links -----------------------------------------------------------------------------

EXPIRY_CHOICES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def share_token(share: ShareLink) -> str:
    mac = hmac.new(
        settings.SECRET_KEY.encode(), f"share:{share.pk}:{share.salt}".encode(), hashlib.sha256
    ).digest()
    return f"{share.pk}.{base64.urlsafe_b64encode(mac[:24]).decode()}"  # 192 bits


def share_from_token(token: str) -> ShareLink | None:
    """The share a token names, if it is authentic, unexpired and not revoked."""
    pk, _, _ = token.partition(".")
    if not pk.isdecimal():
        return None
    share = (
        ShareLink.objects.select_related("comparison", "preview", "preview__session")
        .filter(pk=int(pk))
        .first()
    )
    if share is None or not hmac.compare_digest(share_token(share).encode(), token.encode()):
        return None
    return share if share.is_valid else None


def share_create(
    *,
    owner,
    comparison: Comparison | None = None,
    preview: Preview | None = None,
    expires_in: timedelta,
) -> ShareLink:
    if expires_in <= timedelta(0) or expires_in > timedelta(days=90):
        raise ComparisonRefused("A share link lasts between a minute and 90 days.")
    return ShareLink.objects.create(
        owner=owner,
        comparison=comparison,
        preview=preview,
        salt=secrets.token_hex(16),
        expires_at=timezone.now() + expires_in,
    )


def share_revoke(*, share: ShareLink) -> None:
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
