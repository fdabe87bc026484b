"""Reads of comparisons, versions and share links."""

from __future__ import annotations

import hmac

from django.db.models import QuerySet

from sandboxes.models import Preview

from .models import Comparison, ShareLink, Version
from .shares import share_token


def comparisons_of(user) -> QuerySet[Comparison]:
    return Comparison.objects.filter(owner=user)


def comparison_versions(comparison: Comparison) -> QuerySet[Version]:
    return comparison.versions.select_related("run", "preview", "session")


def shares_of(user) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(owner=user)


def preview_shares(preview: Preview) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(preview=preview)


def share_get_by_token(token: str) -> ShareLink | None:
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
