"""Reads of comparisons, versions and share links."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from django.db.models import QuerySet

from runs.models import Run
from sandboxes.models import Preview, Screenshot

from .models import Comparison, ShareLink, Snapshot, Version
from .shares import share_pins, share_token


def comparisons_of(user) -> QuerySet[Comparison]:
    return Comparison.objects.filter(owner=user)


def comparison_versions(comparison: Comparison) -> QuerySet[Version]:
    return comparison.versions.select_related("run", "preview", "session")


def shares_of(user) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(owner=user)


def preview_shares(preview: Preview) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(preview=preview)


def share_snapshots(share: ShareLink) -> QuerySet[Snapshot]:
    """A share's snapshots, in the order of its versions."""
    return share.snapshots.select_related("version", "preview", "screenshot").order_by(
        "version__position", "pk"
    )


def share_get_by_token(token: str) -> ShareLink | None:
    """The share a token names, if it is authentic, unexpired and not revoked."""
    pk, _, _ = token.partition(".")
    if not pk.isdecimal():
        return None
    share = (
        ShareLink.objects.select_related(
            "comparison", "preview", "preview__session", "run", "thread"
        )
        .filter(pk=int(pk))
        .first()
    )
    if share is None or not hmac.compare_digest(share_token(share).encode(), token.encode()):
        return None
    return share if share.is_valid else None


@dataclass
class SharedVersion:
    """One card of a public share page: what was shared, and whether its sandbox moved on."""

    version: Version | None
    preview: Preview | None
    run: Run | None
    summary: str
    files_changed: list = field(default_factory=list)
    later_runs: int = 0  # runs made in its sandbox after the shared one


def shared_versions(share: ShareLink) -> tuple[list[SharedVersion], int]:
    """The cards a share shows, pinned at its creation, and how many versions were added to
    its comparison since (not part of it)."""
    if share.comparison_id is None and share.preview_id is None:
        return [], 0  # a run or conversation share shows no version
    pins = share.pinned or share_pins(
        comparison=share.comparison, preview=share.preview, before=share.created_at
    )
    versions = comparison_versions(share.comparison).in_bulk() if share.comparison else {}
    runs = Run.objects.in_bulk([pin["run"] for pin in pins if pin["run"]])
    cards = []
    for pin in pins:
        version = versions.get(pin["version"])
        if share.comparison is not None and version is None:
            continue  # deleted since
        session_id = version.session_id if version else share.preview.session_id
        run = runs.get(pin["run"])
        if run is None and version is not None and pin["run"] is None:
            # Shared before its build's run began: the build is what was shared.
            run = Run.objects.filter(session_id=session_id).order_by("created_at", "pk").first()
        finished = run is not None and not run.is_active
        pinned_finished = bool(pin["summary"] or pin["files_changed"])
        cards.append(
            SharedVersion(
                version=version,
                preview=version.preview if version else share.preview,
                run=run,
                summary=pin["summary"] or (run.final_output if finished else ""),
                files_changed=pin["files_changed"]
                if pinned_finished
                else (version.files_changed if version and finished else []),
                later_runs=Run.objects.filter(
                    session_id=session_id, created_at__gt=run.created_at
                ).count()
                if run is not None
                else 0,
            )
        )
    added = (
        share.comparison.versions.exclude(pk__in=[pin["version"] for pin in pins]).count()
        if share.comparison
        else 0
    )
    return cards, added


def shared_runs(share: ShareLink) -> list[Run]:
    """The runs a run or conversation share shows: those pinned when it was made, in order,
    still its owner's."""
    ids = [pin["run"] for pin in share.pinned if pin.get("run")]
    runs = Run.objects.filter(pk__in=ids, owner_id=share.owner_id).in_bulk()
    return [runs[pk] for pk in ids if pk in runs]


def _shared_session_ids(share: ShareLink) -> list[int]:
    if share.comparison_id:
        pins = {pin["version"] for pin in share.pinned} if share.pinned else None
        versions = share.comparison.versions.exclude(session=None)
        if pins is not None:
            versions = versions.filter(pk__in=pins)
        return list(versions.values_list("session_id", flat=True))
    if share.preview_id is None:
        return []  # a run or conversation share shows no screenshot
    return [share.preview.session_id]


def share_screenshots(share: ShareLink) -> QuerySet[Screenshot]:
    """The screenshots a share's holders may see: those of the sandboxes it shows."""
    return Screenshot.objects.filter(session_id__in=_shared_session_ids(share))


def shared_screenshot(share: ShareLink, item: SharedVersion) -> Screenshot | None:
    """The newest screenshot of one shared card's sandbox."""
    session_id = item.version.session_id if item.version else share.preview.session_id
    if session_id is None:
        return None
    return Screenshot.objects.filter(session_id=session_id).first()
