from asgiref.sync import sync_to_async
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from runs.forms import RunForm
from runs.models import Run

from . import services
from .backends import BackendUnavailable
from .forms import SessionForm
from .models import Manifest, SandboxSession


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _get_manifest_for_user(request: HttpRequest, pk: int) -> Manifest:
    return get_object_or_404(Manifest.objects.visible_to(request.user), pk=pk)


def _get_session_for_user(request: HttpRequest, pk: int) -> SandboxSession:
    return get_object_or_404(
        SandboxSession.objects.select_related("manifest"), pk=pk, owner=request.user
    )


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sandboxes/home.html",
        {
            "manifests": Manifest.objects.visible_to(request.user),
            "sessions": SandboxSession.objects.filter(owner=request.user).select_related(
                "manifest"
            )[:20],
            "runs": Run.objects.filter(owner=request.user).select_related("session")[:10],
        },
    )


def manifest_list(request: HttpRequest) -> HttpResponse:
    manifests = Manifest.objects.visible_to(request.user).prefetch_related("entries")
    return render(request, "sandboxes/manifest_list.html", {"manifests": manifests})


def manifest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    return render(
        request,
        "sandboxes/manifest_detail.html",
        {"manifest": manifest, "entries": manifest.entries.all(), "form": SessionForm()},
    )


@require_POST
def session_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    form = SessionForm(request.POST)
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
            return _redirect(request, session.get_absolute_url())
    context = {"manifest": manifest, "entries": manifest.entries.all(), "form": form}
    return render(request, "sandboxes/manifest_detail.html", context, status=400)


def session_list(request: HttpRequest) -> HttpResponse:
    sessions = SandboxSession.objects.filter(owner=request.user).select_related("manifest")
    return render(request, "sandboxes/session_list.html", {"sessions": sessions})


def session_page(
    request: HtmxHttpRequest, session: SandboxSession, *, run_form=None, status: int = 200
) -> HttpResponse:
    context = {
        "session": session,
        "files": services.workspace_files(session),
        "runs": session.runs.all()[:50],
        "run_form": run_form or RunForm(),
    }
    template = "sandboxes/session_detail.html"
    if request.htmx and request.htmx.target == "session-main":
        template += "#main"
    return render(request, template, context, status=status)


def session_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return session_page(request, _get_session_for_user(request, pk))


@require_POST
async def session_shutdown(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Async so the cancel events of its runs are broadcast from the server's own loop.
    user = await request.auser()
    session = await aget_object_or_404(SandboxSession, pk=pk, owner=user)
    if session.status != SandboxSession.Status.STOPPED:
        await services.session_shutdown(session=session)
        await sync_to_async(messages.success)(request, f"Sandbox “{session.name}” was shut down.")
    return _redirect(request, session.get_absolute_url())
