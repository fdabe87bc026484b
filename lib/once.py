"""One submission per form: a double click, or a form sent twice at once, creates one thing.

Every create form carries a random token (`{{ form_once }}` renders a fresh one each time it is
written into a page). A view decorated with `once_per_form` claims the token atomically in the
cache before doing anything; a second submission with the same token does nothing itself: it
waits for the first one's outcome and is sent where the first one was (the new sandbox, run,
comparison...). A submission the view refused (form errors) releases its token, so the
corrected form can be sent again. Requests without a token are served as before.

The cache must be shared by every process that serves the forms: the embedded default is one
process (local memory); with several daphne processes, `REDIS_URL` makes it Redis.
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .htmx import htmx_redirect

FIELD = "form_token"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
PENDING = "…"
KEEP_SECONDS = 600  # how long a submission is remembered
WAIT_SECONDS = 15.0  # how long a repeat waits for the first submission to finish
POLL_SECONDS = 0.05


def form_once_field() -> SafeString:
    """A hidden input with a new token: put one in each create form."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">', FIELD, secrets.token_urlsafe(18)
    )


def form_once(request: HttpRequest) -> dict:
    """Context processor: `{{ form_once }}` writes a fresh token each time it is used."""
    return {"form_once": form_once_field}


def _outcome(response: HttpResponse) -> str | None:
    """Where a successful submission sent the browser: htmx's HX-Redirect or a redirect."""
    if location := response.headers.get("HX-Redirect"):
        return location
    if response.status_code in (301, 302, 303, 307, 308):
        return response.headers.get("Location")
    return None


def _conflict() -> HttpResponse:
    return HttpResponse(
        "This form was already sent and is still being processed: reload the page in a moment.\n",
        status=409,
        content_type="text/plain; charset=utf-8",
    )


def once_per_form(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorate a (sync) view that creates something on POST; see the module's docstring."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = request.POST.get(FIELD, "") if request.method == "POST" else ""
        if not TOKEN.fullmatch(token):
            return view(request, *args, **kwargs)
        key = f"form-once:{request.user.pk}:{request.path}:{token}"
        deadline = time.monotonic() + WAIT_SECONDS
        while not cache.add(key, PENDING, KEEP_SECONDS):
            outcome = cache.get(key)
            if outcome not in (None, PENDING):
                return htmx_redirect(request, outcome)  # where the first submission went
            if time.monotonic() > deadline:
                return _conflict()
            time.sleep(POLL_SECONDS)  # the first one is still at work (or just released it)
        try:
            response = view(request, *args, **kwargs)
        except BaseException:
            cache.delete(key)
            raise
        if outcome := _outcome(response):
            cache.set(key, outcome, KEEP_SECONDS)
        else:
            cache.delete(key)  # refused: the corrected form may be sent with the same token
        return response

    return wrapper
