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


def htmx_refuse(response: HttpResponse, target: str, *, status: int = 400) -> HttpResponse:
    """A refused form: `response` is the form's own fragment with its errors, and it replaces
    the element `#target` (the fragment's root) and nothing else, whatever the form's hx-target
    was. static/js/refusals.js swaps such answers; any other error answer is never swapped."""
    response.status_code = status
    response.headers["HX-Retarget"] = f"#{target}"
    response.headers["HX-Reswap"] = "outerHTML"
    return response
