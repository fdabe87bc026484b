"""Share links: read-only, expiring, revocable links to a comparison, a single preview, a run
(its log, timeline and result) or a conversation (its turns when the link was made).

A link's token is `<id>.<HMAC of id and salt under SECRET_KEY>` (192 bits): never stored, so the
database alone cannot produce a working link, yet its owner can copy it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from runs.models import Run, Thread
from sandboxes.models import Preview

from .models import Comparison, ShareLink

EXPIRY_CHOICES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
MAX_EXPIRY = timedelta(days=90)


class ShareRefused(Exception):
    pass


def share_token(share: ShareLink) -> str:
    mac = hmac.new(
        settings.SECRET_KEY.encode(), f"share:{share.pk}:{share.salt}".encode(), hashlib.sha256
    ).digest()
    return f"{share.pk}.{base64.urlsafe_b64encode(mac[:24]).decode()}"  # 192 bits


def share_create(
    *,
    owner,
    comparison: Comparison | None = None,
    preview: Preview | None = None,
    run: Run | None = None,
    thread: Thread | None = None,
    expires_in: timedelta,
) -> ShareLink:
    """A link, and a snapshot of each preview it shows, built in the background (so the link
    still shows the apps once their sandboxes are gone)."""
    from .snapshots import share_snapshots_start

    if expires_in <= timedelta(0) or expires_in > MAX_EXPIRY:
        raise ShareRefused("A share link lasts between a minute and 90 days.")
    if run is not None or thread is not None:
        turns = [run] if run is not None else list(thread.runs.order_by("turn", "pk"))
        if not turns:
            raise ShareRefused("This conversation has no turn to share yet.")
        pinned = [_pin(None, turn, []) for turn in turns]
    else:
        pinned = share_pins(comparison=comparison, preview=preview)
    with transaction.atomic():
        share = ShareLink.objects.create(
            owner=owner,
            comparison=comparison,
            preview=preview,
            run=run,
            thread=thread,
            salt=secrets.token_hex(16),
            pinned=pinned,
            expires_at=timezone.now() + expires_in,
        )
        share_snapshots_start(share=share)  # a run or conversation share has no preview
    return share


def _pin(version_id: int | None, run: Run | None, files_changed: list) -> dict:
    finished = run is not None and not run.is_active
    return {
        "version": version_id,
        "run": run.pk if run else None,
        "summary": run.final_output if finished else "",
        "files_changed": files_changed if finished else [],
    }


def share_pins(
    *, comparison: Comparison | None = None, preview: Preview | None = None, before=None
) -> list[dict]:
    """What a share shows: each version's run, summary and changed files as they are now.

    `before` (a link made before shares were pinned) pins what existed at that time instead.
    A version still building is pinned to its build: its summary appears once that is done.
    """
    if comparison is not None:
        return [
            _pin(version.pk, version.run, version.files_changed)
            for version in comparison.versions.select_related("run")
        ]
    runs = Run.objects.filter(session_id=preview.session_id, status=Run.Status.SUCCEEDED)
    if before is not None:
        runs = runs.filter(created_at__lte=before)
    return [_pin(None, runs.order_by("-created_at", "-pk").first(), [])]


def share_revoke(*, share: ShareLink) -> None:
    """Revoke it: its page and its previews' origins refuse its viewers at once, and its
    snapshots are deleted (a revoked link never opens again)."""
    from .snapshots import share_snapshots_delete

    with transaction.atomic():
        if share.revoked_at is None:
            share.revoked_at = timezone.now()
            share.save(update_fields=["revoked_at"])
        share_snapshots_delete(share=share)
