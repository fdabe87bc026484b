"""Previews: start one in a session, follow its boot, stop and restart it."""

from __future__ import annotations

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, render
from django.views.decorators.http import require_POST

from comparisons.forms import ShareForm
from comparisons.selectors import preview_shares
from comparisons.views import share_links
from lib.htmx import HtmxHttpRequest, htmx_redirect, htmx_target
from lib.once import once_per_form

from .. import hooks, previews, screenshots, selectors
from ..forms import PreviewForm
from ..grants import grant_for_user, preview_entry_url
from ..models import Preview, SandboxSession
from .sessions import get_session_for_user, render_session_page


def _get_preview_for_user(request: HttpRequest, pk: int) -> Preview:
    return get_object_or_404(selectors.previews_of(request.user), pk=pk)


@require_POST
@once_per_form
def preview_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for_user(request, pk)
    form = PreviewForm(request.POST)
    if session.status != SandboxSession.Status.RUNNING:
        form.add_error(None, "Previews need a running sandbox.")
    elif not session.is_local and async_to_sync(hooks.session_busy_reason)(session):
        # A remote preview attaches to the sandbox, which the active run holds.
        form.add_error(None, "Wait for the active run to finish before starting a preview.")
    if form.is_valid():
        port = form.cleaned_data["port"]
        running = session.previews.active().filter(port=port).exists()
        preview = previews.preview_create(
            session=session, port=port, command=form.cleaned_data["command"]
        )
        if running:
            messages.info(request, f"A preview already runs on port {port}: here it is.")
        if request.POST.get("next") == "session":
            # Started beside the conversation: the app appears there once it answers.
            return htmx_redirect(request, f"{session.get_absolute_url()}#session-preview")
        return htmx_redirect(request, preview.get_absolute_url())
    return render_session_page(request, session, preview_form=form, status=400)


def preview_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    preview = async_to_sync(previews.preview_check)(preview=_get_preview_for_user(request, pk))
    context = {
        "preview": preview,
        "log": previews.current_log(preview),
        "session": preview.session,
        "frame_url": preview_entry_url(
            request, preview, grant_for_user(preview, request.user, request.session.session_key)
        ),
        "share_form": ShareForm(),
        "shares": share_links(request, preview_shares(preview)),
        "screenshots": selectors.preview_screenshots(preview)[:6],
    }
    if htmx_target(request) == f"preview-{preview.pk}-state":
        return render(request, "sandboxes/_preview_state.html", context)
    return render(request, "sandboxes/preview_detail.html", context)


@require_POST
async def preview_stop(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    preview = await aget_object_or_404(Preview, pk=pk, session__owner=user)
    await previews.preview_stop(preview=preview)
    return htmx_redirect(request, preview.get_absolute_url())


@require_POST
async def preview_restart(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    preview = await aget_object_or_404(Preview, pk=pk, session__owner=user)
    session = await SandboxSession.objects.aget(pk=preview.session_id)
    if session.status == SandboxSession.Status.RUNNING:
        await previews.preview_restart(preview=preview)
    if request.POST.get("next") == "session":
        return htmx_redirect(request, f"{session.get_absolute_url()}#session-preview")
    return htmx_redirect(request, preview.get_absolute_url())


@require_POST
async def preview_screenshot(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Photograph the preview now (server-side chromium); the preview page shows it."""
    user = await request.auser()
    preview = await aget_object_or_404(
        Preview.objects.select_related("session"), pk=pk, session__owner=user
    )
    taken = ""
    try:
        shot = await screenshots.screenshot_take(session=preview.session, preview=preview)
        taken = f"?taken={shot.pk}"  # a new URL: the page loads again, at its screenshots
    except screenshots.ScreenshotFailed as error:
        await sync_to_async(messages.error)(request, f"No screenshot: {error}")
    return htmx_redirect(request, f"{preview.get_absolute_url()}{taken}#screenshots")
