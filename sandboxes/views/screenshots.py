"""Screenshots' files: served by a view that checks who asks, never as static files."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404

from .. import selectors
from ..models import Screenshot


def screenshot_response(shot: Screenshot) -> FileResponse:
    """The PNG of a screenshot whose viewer the caller checked."""
    response = FileResponse(shot.image.open("rb"), content_type="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def screenshot_image(request: HttpRequest, pk: int) -> FileResponse:
    """A screenshot's PNG, for its session's owner only (anyone else: 404)."""
    shot = get_object_or_404(selectors.screenshots_of(request.user), pk=pk)
    return screenshot_response(shot)
