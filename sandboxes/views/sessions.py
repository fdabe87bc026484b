"""The home page and sandbox sessions: create, list, open, pause, resume, extend, shut down."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_POST

from lib.errors import describe_error
from lib.htmx import HtmxHttpRequest, htmx_redirect, htmx_target
from lib.once import once_per_form
from runs import selectors as run_selectors
from runs.forms import FollowUpForm, RunForm
from runs.selectors import runs_of, session_runs

from .. import selectors, services, workspace
from ..backends import BACKENDS, BackendUnavailable
from ..forms import PreviewForm, SessionForm
from ..grants import grant_for_user, preview_entry_url
from ..hosts import OnAnotherMachine
from ..models import Manifest, Preview, SandboxSession


def get_session_for_user(request: HttpRequest, pk: int) -> SandboxSession:
    return get_object_or_404(selectors.sessions_of(request.user), pk=pk)


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sandboxes/home.html",
        {
            "manifests": selectors.manifests_visible_to(request.user),
            "sessions": selectors.sessions_of(request.user)[:20],
            "runs": runs_of(request.user).select_related("session")[:10],
        },
    )


def manifest_context(manifest: Manifest, form: SessionForm) -> dict:
    offered = {choice for choice, _ in form.fields["backend"].choices}
    local = BACKENDS[SandboxSession.Backend.LOCAL]
    return {
        "manifest": manifest,
        "entries": manifest.entries.all(),
        "form": form,
        "docker_available": BACKENDS[SandboxSession.Backend.DOCKER].available(),
        "local_offered": local.id in offered,
        "local_refused": "" if local.id in offered else local.refused,
        "no_backend": not offered,
    }


@require_POST
@once_per_form
def session_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = get_object_or_404(selectors.manifests_visible_to(request.user), pk=pk)
    form = SessionForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            session = services.session_create(
                owner=request.user,
                manifest=manifest,
                backend_id=form.cleaned_data["backend"],
                name=form.cleaned_data["name"],
                options=form.backend_options(),
            )
        except BackendUnavailable as error:
            form.add_error("backend", str(error))
        else:
            return htmx_redirect(request, session.get_absolute_url())
    context = manifest_context(manifest, form)
    return render(request, "sandboxes/manifest_detail.html", context, status=400)


def session_list(request: HttpRequest) -> HttpResponse:
    status, backend = request.GET.get("status", "live"), request.GET.get("backend", "")
    context = {
        "sessions": selectors.session_list(owner=request.user, status=status, backend=backend),
        "status": status,
        "backend": backend,
        "statuses": SandboxSession.Status.choices,
        "backends": SandboxSession.Backend.choices,
        "selectable": True,
    }
    return render(request, "sandboxes/session_list.html", context)


@require_POST
async def session_bulk_shutdown(request: HtmxHttpRequest) -> HttpResponse:
    user = await request.auser()
    ids = [int(i) for i in request.POST.getlist("session") if i.isdecimal()]
    sessions = (
        selectors.sessions_of(user).filter(pk__in=ids).exclude(status=SandboxSession.Status.STOPPED)
    )
    count, later = 0, 0
    async for session in sessions:
        try:
            if await services.session_stop_soon(session=session):
                later += 1
        except OnAnotherMachine as error:
            await sync_to_async(messages.error)(request, f"{session.name}: {error}")
            continue
        count += 1
    note = f" ({later} once their shared previews are snapshotted)" if later else ""
    await sync_to_async(messages.success)(
        request, f"Shut down {count} sandbox{pluralize(count, 'es')}{note}."
    )
    return redirect(reverse("session_list"))


async def _session_action(request, pk: int, action, success: str) -> HttpResponse:
    user = await request.auser()
    session = await aget_object_or_404(SandboxSession, pk=pk, owner=user)
    try:
        said = await action(session)
    except (services.SessionNotReady, services.SessionBusy, BackendUnavailable) as error:
        await sync_to_async(messages.error)(request, str(error))
    except Exception as error:
        await sync_to_async(messages.error)(request, describe_error(error))
    else:
        await sync_to_async(messages.success)(request, said if isinstance(said, str) else success)
    return htmx_redirect(request, session.get_absolute_url())


@require_POST
async def session_pause(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    async def pause(session) -> str:
        reason = await services.session_stop_soon(session=session, pause=True)
        return f"Pausing the sandbox once {reason}." if reason else "Sandbox paused."

    return await _session_action(request, pk, pause, "")


@require_POST
async def session_resume(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return await _session_action(
        request, pk, lambda s: services.session_resume(session=s), "Sandbox resumed."
    )


@require_POST
async def session_extend(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    minutes = request.POST.get("minutes", "")
    seconds = int(minutes) * 60 if minutes.isdecimal() and 1 <= int(minutes) <= 1440 else 0

    async def extend(session):
        if not seconds:
            raise services.SessionNotReady("Give 1 to 1440 minutes.")
        await services.session_extend(session=session, seconds=seconds)

    return await _session_action(request, pk, extend, f"Timeout set to {minutes} min from now.")


def session_preview_frame(request: HttpRequest, session: SandboxSession) -> dict:
    """The session's newest live preview, and the signed URL its iframe opens once ready."""
    preview = session.previews.filter(status__in=Preview.ACTIVE_STATUSES).order_by("-pk").first()
    frame_url = None
    if preview is not None and preview.status == Preview.Status.READY:
        grant = grant_for_user(preview, request.user, request.session.session_key)
        frame_url = preview_entry_url(request, preview, grant)
    return {"preview": preview, "frame_url": frame_url}


def conversation_context(session: SandboxSession, thread, follow_up_form=None) -> dict:
    """A conversation as the session page shows it: its turns, their summed usage, the box
    for the next turn."""
    turns = list(run_selectors.thread_turns(thread)) if thread is not None else []
    last = turns[-1] if turns else None
    if follow_up_form is None and last is not None:
        follow_up_form = FollowUpForm(initial={"approvals": last.config.get("approvals", [])})
    return {
        "thread": thread,
        "turns": turns,
        "last_turn": last,
        "thread_usage": run_selectors.usage_of(turns),
        "follow_up_form": follow_up_form,
    }


# Fragments of the session page that ask for themselves (hx-target = their id).
SESSION_FRAGMENTS = {
    "session-main": "sandboxes/_session_main.html",
    "conversation": "runs/_conversation.html",
    "follow-up": "runs/_follow_up.html",
    "session-preview": "sandboxes/_session_preview.html",
    "session-files": "sandboxes/_session_files.html",
    "session-runs": "sandboxes/_session_runs.html",
    "thread-usage": "runs/_thread_usage.html",
}


def render_session_page(
    request: HtmxHttpRequest,
    session: SandboxSession,
    *,
    run_form=None,
    preview_form=None,
    thread=None,
    follow_up_form=None,
    status: int = 200,
    fragment: str | None = None,
) -> HttpResponse:
    """The session page: the conversation (turns, then the box for the next one) beside the
    preview and the files. A fragment alone when htmx asks for one (SESSION_FRAGMENTS), or
    when the caller names one (`fragment`, a key of SESSION_FRAGMENTS)."""
    if thread is None:
        thread = run_selectors.thread_for_page(session, request.GET.get("thread"))
        if thread is None and request.GET.get("thread"):
            raise Http404("No such conversation on this sandbox.")
    context = {
        "session": session,
        "files": workspace.listing(session),
        "runs": session_runs(session)[:50],
        "run_form": run_form or RunForm(),
        "previews": session.previews.all()[:10],
        "preview_form": preview_form or PreviewForm(),
        "threads": run_selectors.session_threads(session)[:20],
        **conversation_context(session, thread, follow_up_form),
        **session_preview_frame(request, session),
    }
    template = SESSION_FRAGMENTS.get(
        fragment or htmx_target(request) or "", "sandboxes/session_detail.html"
    )
    return render(request, template, context, status=status)


def session_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return render_session_page(request, get_session_for_user(request, pk))


@require_POST
async def session_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    session = await aget_object_or_404(SandboxSession, pk=pk, owner=user)
    name = session.name
    try:
        await services.session_delete(session=session)
    except services.SessionBusy as error:
        await sync_to_async(messages.error)(request, f"“{name}” was not deleted: {error}")
        return htmx_redirect(request, session.get_absolute_url())
    await sync_to_async(messages.success)(
        request, f"Sandbox “{name}” was deleted with its runs and workspace."
    )
    return htmx_redirect(request, reverse("session_list"))


@require_POST
async def session_shutdown(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Async so the cancel events of its runs are broadcast from the server's own loop.
    user = await request.auser()
    session = await aget_object_or_404(SandboxSession, pk=pk, owner=user)
    if session.status != SandboxSession.Status.STOPPED:
        try:
            reason = await services.session_stop_soon(session=session)
        except OnAnotherMachine as error:
            await sync_to_async(messages.error)(request, str(error))
        else:
            if reason:
                said = f"Sandbox “{session.name}” shuts down once {reason}."
            else:
                said = f"Sandbox “{session.name}” was shut down."
            await sync_to_async(messages.success)(request, said)
    return htmx_redirect(request, session.get_absolute_url())
