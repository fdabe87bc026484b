"""The htmx side of views: a typed request and a redirect that works with or without htmx."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def htmx_redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """A full-page redirect: htmx is told to load `url`, a plain form POST is redirected."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def htmx_target(request: HtmxHttpRequest) -> str | None:
    """The id of the element htmx asked for (its hx-target), so that one view serves the whole
    page and, rendering `_fragment.html` instead, that element alone; None for a full page."""
    htmx = getattr(request, "htmx", None)
    return htmx.target if htmx else None
