"""Reads of manifests, sandbox sessions and previews, always scoped to who may see them."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Manifest, Preview, SandboxSession, Screenshot


def manifests_visible_to(user) -> QuerySet[Manifest]:
    """Built-in starters (read-only) and the user's own manifests."""
    return Manifest.objects.visible_to(user)


def manifests_owned_by(user) -> QuerySet[Manifest]:
    """The manifests a user may edit or delete (never the built-ins)."""
    return Manifest.objects.filter(owner=user, is_builtin=False)


def sessions_of(user) -> QuerySet[SandboxSession]:
    return SandboxSession.objects.filter(owner=user).select_related("manifest")


def session_list(*, owner, status: str = "live", backend: str = "") -> QuerySet[SandboxSession]:
    """A user's sessions, filtered: status "live" (the default), one status, or "" for all;
    backend one of SandboxSession.Backend, or "" for all."""
    sessions = sessions_of(owner)
    if status == "live":
        sessions = sessions.filter(status__in=SandboxSession.LIVE_STATUSES)
    elif status in SandboxSession.Status.values:
        sessions = sessions.filter(status=status)
    if backend in SandboxSession.Backend.values:
        sessions = sessions.filter(backend=backend)
    return sessions


def running_sessions_of(user) -> QuerySet[SandboxSession]:
    return SandboxSession.objects.filter(owner=user, status=SandboxSession.Status.RUNNING)


def previews_of(user) -> QuerySet[Preview]:
    return Preview.objects.select_related("session").filter(session__owner=user)


def screenshots_of(user) -> QuerySet[Screenshot]:
    return Screenshot.objects.filter(session__owner=user)


def preview_screenshots(preview: Preview) -> QuerySet[Screenshot]:
    """A preview's screenshots, newest first."""
    return Screenshot.objects.filter(preview=preview)


def session_latest_screenshot(session: SandboxSession | None) -> Screenshot | None:
    """The newest picture of a session's app, if one was taken."""
    if session is None:
        return None
    return Screenshot.objects.filter(session=session).first()
