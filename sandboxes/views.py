import json

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from runs.forms import AgentForm, RunForm
from runs.models import Run

from . import comparisons, manifests, previews, proxy, services
from .backends import BACKENDS, BackendUnavailable
from .forms import (
    AddVersionForm,
    ComparisonForm,
    ManifestFileForm,
    ManifestForm,
    PreviewForm,
    SessionForm,
    ShareForm,
)
from .models import Comparison, Manifest, Preview, SandboxSession, ShareLink


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


def _manifest_context(manifest: Manifest, form: SessionForm) -> dict:
    return {
        "manifest": manifest,
        "entries": manifest.entries.all(),
        "form": form,
        "docker_available": BACKENDS[SandboxSession.Backend.DOCKER].available(),
    }


def manifest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    return render(
        request, "sandboxes/manifest_detail.html", _manifest_context(manifest, SessionForm())
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
    context = _manifest_context(manifest, form)
    return render(request, "sandboxes/manifest_detail.html", context, status=400)


def session_list(request: HttpRequest) -> HttpResponse:
    sessions = SandboxSession.objects.filter(owner=request.user).select_related("manifest")
    status, backend = request.GET.get("status", "live"), request.GET.get("backend", "")
    if status == "live":
        sessions = sessions.filter(status__in=SandboxSession.LIVE_STATUSES)
    elif status in SandboxSession.Status.values:
        sessions = sessions.filter(status=status)
    if backend in SandboxSession.Backend.values:
        sessions = sessions.filter(backend=backend)
    context = {
        "sessions": sessions,
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
    sessions = SandboxSession.objects.filter(owner=user, pk__in=ids).exclude(
        status=SandboxSession.Status.STOPPED
    )
    count = 0
    async for session in sessions:
        await services.session_shutdown(session=session)
        count += 1
    await sync_to_async(messages.success)(request, f"Shut down {count} sandbox(es).")
    return redirect(reverse("session_list"))


async def _session_action(request, pk: int, action, success: str) -> HttpResponse:
    user = await request.auser()
    session = await aget_object_or_404(SandboxSession, pk=pk, owner=user)
    try:
        await action(session)
    except (services.SessionNotReady, services.SessionBusy, BackendUnavailable) as error:
        await sync_to_async(messages.error)(request, str(error))
    except Exception as error:
        await sync_to_async(messages.error)(request, services.describe_error(error))
    else:
        await sync_to_async(messages.success)(request, success)
    return _redirect(request, session.get_absolute_url())


@require_POST
async def session_pause(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return await _session_action(
        request, pk, lambda s: services.session_pause(session=s), "Sandbox paused."
    )


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


def session_page(
    request: HtmxHttpRequest,
    session: SandboxSession,
    *,
    run_form=None,
    preview_form=None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "session": session,
        "files": services.workspace_files(session),
        "runs": session.runs.all()[:50],
        "run_form": run_form or RunForm(),
        "previews": session.previews.all()[:10],
        "preview_form": preview_form or PreviewForm(),
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


# --- previews ----------------------------------------------------------------------------------


def _get_preview_for_user(request: HttpRequest, pk: int) -> Preview:
    return get_object_or_404(
        Preview.objects.select_related("session"), pk=pk, session__owner=request.user
    )


def _preview_frame_url(request: HttpRequest, preview: Preview) -> str:
    return proxy.preview_entry_url(request, preview, proxy.grant_for_user(preview, request.user))


@require_POST
def preview_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = _get_session_for_user(request, pk)
    form = PreviewForm(request.POST)
    if session.status != SandboxSession.Status.RUNNING:
        form.add_error(None, "Previews need a running sandbox.")
    elif (
        session.backend != SandboxSession.Backend.LOCAL
        and session.runs.filter(status__in=Run.ACTIVE_STATUSES).exists()
    ):
        # A remote preview attaches to the sandbox, which the active run holds.
        form.add_error(None, "Wait for the active run to finish before starting a preview.")
    if form.is_valid():
        preview = previews.preview_create(
            session=session, port=form.cleaned_data["port"], command=form.cleaned_data["command"]
        )
        return _redirect(request, preview.get_absolute_url())
    return session_page(request, session, preview_form=form, status=400)


def preview_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    preview = async_to_sync(previews.preview_check)(preview=_get_preview_for_user(request, pk))
    context = {
        "preview": preview,
        "log": previews.current_log(preview),
        "session": preview.session,
        "frame_url": _preview_frame_url(request, preview),
        "share_form": ShareForm(),
        "shares": _shares_with_urls(request, preview.shares.all()),
    }
    if request.htmx and request.htmx.target == f"preview-{preview.pk}-state":
        return render(request, "sandboxes/_preview_state.html", context)
    return render(request, "sandboxes/preview_detail.html", context)


@require_POST
async def preview_stop(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    preview = await aget_object_or_404(Preview, pk=pk, session__owner=user)
    await previews.preview_stop(preview=preview)
    return _redirect(request, preview.get_absolute_url())


@require_POST
async def preview_restart(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    preview = await aget_object_or_404(Preview, pk=pk, session__owner=user)
    session = await SandboxSession.objects.aget(pk=preview.session_id)
    if session.status == SandboxSession.Status.RUNNING:
        await previews.preview_restart(preview=preview)
    return _redirect(request, preview.get_absolute_url())


# --- comparisons -------------------------------------------------------------------------------


def _get_comparison_for_user(request: HttpRequest, pk: int) -> Comparison:
    return get_object_or_404(Comparison, pk=pk, owner=request.user)


def comparison_new(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    form = ComparisonForm(request.POST or None)
    agent_form = AgentForm(request.POST or None, prefix="agent")
    if request.method == "POST":
        if form.is_valid() and agent_form.is_valid():
            try:
                comparison = comparisons.comparison_create(
                    owner=request.user,
                    manifest=manifest,
                    title=form.cleaned_data["title"],
                    config=agent_form.agent_config(),
                    prompts=form.prompts,
                    backend_id=form.cleaned_data["backend"],
                )
            except comparisons.ComparisonRefused as error:
                form.add_error(None, str(error))
            else:
                return _redirect(request, comparison.get_absolute_url())
    context = {"manifest": manifest, "form": form, "agent_form": agent_form}
    return render(
        request, "sandboxes/comparison_new.html", context, status=400 if form.errors else 200
    )


def _version_cards(request: HttpRequest, versions, grant_for) -> list[dict]:
    cards = []
    for version in versions:
        preview = version.preview
        frame_url = None
        if preview is not None and preview.status == Preview.Status.READY:
            frame_url = proxy.preview_entry_url(request, preview, grant_for(preview))
        cards.append({"version": version, "run": version.run, "frame_url": frame_url})
    return cards


def _versions(comparison: Comparison):
    return comparison.versions.select_related("run", "preview", "session")


def comparison_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = _get_comparison_for_user(request, pk)
    versions = _versions(comparison)
    one_card = bool(request.htmx and request.GET.get("version"))
    if one_card:
        version_id = request.GET["version"]
        if not version_id.isdecimal() or not versions.filter(pk=version_id).exists():
            raise Http404("No such version in this comparison.")
        versions = versions.filter(pk=version_id)
    cards = _version_cards(
        request, versions, lambda preview: proxy.grant_for_user(preview, request.user)
    )
    focus = request.GET.get("focus")
    context = {
        "comparison": comparison,
        "cards": cards,
        "focus": int(focus) if focus and focus.isdecimal() else None,
        "share_form": ShareForm(),
        "shares": _shares_with_urls(request, comparison.shares.all()),
        "add_form": AddVersionForm(),
        "public": False,
    }
    if one_card:
        return render(request, "sandboxes/_version_card.html", {**context, "card": cards[0]})
    return render(request, "sandboxes/comparison_detail.html", context)


@require_POST
def comparison_add_version(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = _get_comparison_for_user(request, pk)
    form = AddVersionForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                comparisons.version_add(
                    comparison=comparison,
                    label=form.cleaned_data["label"],
                    prompt=form.cleaned_data["prompt"],
                )
        except comparisons.ComparisonRefused as error:
            messages.error(request, str(error))
    else:
        messages.error(request, "Write a prompt for the new version.")
    return _redirect(request, comparison.get_absolute_url())


def comparison_list(request: HttpRequest) -> HttpResponse:
    items = Comparison.objects.filter(owner=request.user).prefetch_related("versions")
    return render(request, "sandboxes/comparison_list.html", {"comparisons": items})


# --- share links -------------------------------------------------------------------------------


def _shares_with_urls(request: HttpRequest, shares) -> list[dict]:
    return [
        {
            "share": share,
            "url": request.build_absolute_uri(
                reverse("share_page", args=[comparisons.share_token(share)])
            ),
        }
        for share in shares
    ]


@require_POST
def share_create(request: HtmxHttpRequest, kind: str, pk: int) -> HttpResponse:
    if kind == "comparison":
        target = _get_comparison_for_user(request, pk)
        owner_kwargs = {"comparison": target}
    elif kind != "preview":
        raise Http404("Only comparisons and previews can be shared.")
    else:
        target = _get_preview_for_user(request, pk)
        owner_kwargs = {"preview": target}
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            comparisons.share_create(
                owner=request.user, expires_in=form.expires_in(), **owner_kwargs
            )
            messages.success(request, "Share link created: copy it from the list below.")
        except comparisons.ComparisonRefused as error:
            messages.error(request, str(error))
    else:
        errors = "; ".join(e for field in form.errors.values() for e in field)
        messages.error(request, f"No link created: {errors}")
    return _redirect(request, target.get_absolute_url())


@require_POST
def share_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    share = get_object_or_404(ShareLink, pk=pk, owner=request.user)
    comparisons.share_revoke(share=share)
    messages.success(request, "Share link revoked: it no longer opens anything.")
    target = share.comparison or share.preview
    return _redirect(request, target.get_absolute_url())


@login_not_required
def share_page(request: HttpRequest, token: str) -> HttpResponse:
    share = comparisons.share_from_token(token)
    if share is None:
        return render(request, "sandboxes/share_gone.html", status=404)
    grant = lambda preview: proxy.grant_for_share(preview, share)  # noqa: E731
    if share.comparison is not None:
        versions = _versions(share.comparison)
        title = share.comparison.title
    else:
        versions = []
        title = share.preview.session.name
    cards = _version_cards(request, versions, grant)
    if share.preview is not None:
        preview = share.preview
        cards = [
            {
                "version": None,
                "run": preview.session.runs.filter(status="succeeded").first(),
                "preview": preview,
                "frame_url": proxy.preview_entry_url(request, preview, grant(preview))
                if preview.status == Preview.Status.READY
                else None,
            }
        ]
    response = render(
        request,
        "sandboxes/share_page.html",
        {"share": share, "title": title, "cards": cards, "public": True},
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- manifests, fully ---------------------------------------------------------------------------


def _get_own_manifest(request: HttpRequest, pk: int) -> Manifest:
    return get_object_or_404(Manifest, pk=pk, owner=request.user, is_builtin=False)


def _manifest_errors(form, error: manifests.ManifestInvalid) -> None:
    for reason in error.errors:
        form.add_error(None, reason)


def _uploaded_files(request: HttpRequest, data: dict) -> list | None:
    """Files from the zip, or from the folder upload (paths sent alongside by the page)."""
    if data.get("archive"):
        return manifests.files_from_zip(data["archive"].read())
    uploads = request.FILES.getlist("folder")
    if not uploads:
        return None
    try:
        paths = json.loads(request.POST.get("folder_paths") or "[]")
    except ValueError:
        paths = []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        paths = []
    return manifests.files_from_folder(uploads, paths)


def manifest_new(request: HtmxHttpRequest) -> HttpResponse:
    form = ManifestForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            files = _uploaded_files(request, data) or []
            manifest = manifests.manifest_save(
                owner=request.user, name=data["name"], description=data["description"], files=files
            )
        except manifests.ManifestInvalid as error:
            _manifest_errors(form, error)
        else:
            return _redirect(request, reverse("manifest_edit", args=[manifest.pk]))
    status = 400 if form.errors else 200
    return render(request, "sandboxes/manifest_new.html", {"form": form}, status=status)


def manifest_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_own_manifest(request, pk)
    meta_form = ManifestForm(initial={"name": manifest.name, "description": manifest.description})
    file_form = ManifestFileForm()
    editing = request.GET.get("file")
    if editing:
        entry = get_object_or_404(manifest.entries, path=editing)
        file_form = ManifestFileForm(
            initial={
                "original_path": entry.path,
                "path": entry.path,
                "content": "" if entry.is_binary else entry.content,
            }
        )
    if request.method == "POST":
        action = request.POST.get("action")
        files = manifests.manifest_files(manifest)
        name, description = manifest.name, manifest.description
        form = None
        if action == "meta":
            form = meta_form = ManifestForm(request.POST, request.FILES)
            if form.is_valid():
                name, description = form.cleaned_data["name"], form.cleaned_data["description"]
                try:
                    files = _uploaded_files(request, form.cleaned_data) or files
                except manifests.ManifestInvalid as error:
                    _manifest_errors(form, error)
        elif action == "file":
            form = file_form = ManifestFileForm(request.POST, request.FILES)
            if form.is_valid():
                data = form.cleaned_data
                content = data["upload"].read() if data["upload"] else data["content"].encode()
                replaced = {data["original_path"], data["path"]}
                files = [f for f in files if f.path not in replaced]
                files.append(manifests.FileSpec(data["path"].strip(), content))
        elif action == "delete_file":
            files = [f for f in files if f.path != request.POST.get("path")]
        if form is None or (form.is_valid() and not form.errors):
            try:
                manifests.manifest_save(
                    owner=request.user,
                    name=name,
                    description=description,
                    files=files,
                    manifest=manifest,
                )
            except manifests.ManifestInvalid as error:
                _manifest_errors(form or meta_form, error)
            else:
                messages.success(request, "Manifest saved.")
                return _redirect(request, reverse("manifest_edit", args=[manifest.pk]))
    context = {
        "manifest": manifest,
        "entries": manifest.entries.all(),
        "meta_form": meta_form,
        "file_form": file_form,
    }
    status = 400 if meta_form.errors or file_form.errors else 200
    return render(request, "sandboxes/manifest_edit.html", context, status=status)


@require_POST
def manifest_clone(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    copy = manifests.manifest_clone(manifest=manifest, owner=request.user)
    messages.success(request, f"Cloned into “{copy.name}”: yours to edit.")
    return _redirect(request, reverse("manifest_edit", args=[copy.pk]))


@require_POST
def manifest_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_own_manifest(request, pk)
    manifests.manifest_delete(manifest=manifest, owner=request.user)
    messages.success(request, f"Deleted “{manifest.name}”.")
    return _redirect(request, reverse("manifest_list"))


def manifest_export(request: HttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    response = HttpResponse(manifests.manifest_zip(manifest), content_type="application/zip")
    filename = slugify(manifest.name) or f"manifest-{manifest.pk}"
    response["Content-Disposition"] = f'attachment; filename="{filename}.zip"'
    return response
