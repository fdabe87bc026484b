"""Manifests, fully: list, open, create, edit file by file, clone, delete, zip in and out."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from lib.htmx import HtmxHttpRequest, htmx_redirect
from lib.once import once_per_form

from .. import manifests, selectors
from ..forms import ManifestFileForm, ManifestForm, SessionForm
from ..models import Manifest
from .sessions import manifest_context


def _get_manifest_for_user(request: HttpRequest, pk: int) -> Manifest:
    return get_object_or_404(selectors.manifests_visible_to(request.user), pk=pk)


def _get_own_manifest(request: HttpRequest, pk: int) -> Manifest:
    return get_object_or_404(selectors.manifests_owned_by(request.user), pk=pk)


def manifest_list(request: HttpRequest) -> HttpResponse:
    items = selectors.manifests_visible_to(request.user).prefetch_related("entries")
    return render(request, "sandboxes/manifest_list.html", {"manifests": items})


def manifest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    return render(
        request,
        "sandboxes/manifest_detail.html",
        manifest_context(manifest, SessionForm(user=request.user)),
    )


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


@once_per_form
def manifest_new(request: HtmxHttpRequest) -> HttpResponse:
    form = ManifestForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            files = _uploaded_files(request, data) or []
            manifest = manifests.manifest_save(
                owner=request.user,
                name=data["name"],
                description=data["description"],
                files=files,
                build=form.build(),
            )
        except manifests.ManifestInvalid as error:
            _manifest_errors(form, error)
        else:
            return htmx_redirect(request, reverse("manifest_edit", args=[manifest.pk]))
    status = 400 if form.errors else 200
    return render(request, "sandboxes/manifest_new.html", {"form": form}, status=status)


def manifest_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_own_manifest(request, pk)
    meta_form = ManifestForm(
        initial={
            "name": manifest.name,
            "description": manifest.description,
            "build_command": manifest.build_command,
            "build_output": manifest.build_output,
        }
    )
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
        build = None
        form = None
        if action == "meta":
            form = meta_form = ManifestForm(request.POST, request.FILES)
            if form.is_valid():
                name, description = form.cleaned_data["name"], form.cleaned_data["description"]
                build = form.build()
                try:
                    files = _uploaded_files(request, form.cleaned_data) or files
                except manifests.ManifestInvalid as error:
                    _manifest_errors(form, error)
        elif action == "file":
            form = file_form = ManifestFileForm(request.POST, request.FILES)
            if form.is_valid():
                data = form.cleaned_data
                content = data["upload"].read() if data["upload"] else data["content"].encode()
                spec = manifests.FileSpec(data["path"].strip(), content)
                files = manifests.files_with(files, spec, replacing=data["original_path"])
        elif action == "delete_file":
            files = manifests.files_without(files, request.POST.get("path", ""))
        if form is None or (form.is_valid() and not form.errors):
            try:
                manifests.manifest_save(
                    owner=request.user,
                    name=name,
                    description=description,
                    files=files,
                    manifest=manifest,
                    build=build,
                )
            except manifests.ManifestInvalid as error:
                _manifest_errors(form or meta_form, error)
            else:
                messages.success(request, "Manifest saved.")
                return htmx_redirect(request, reverse("manifest_edit", args=[manifest.pk]))
    context = {
        "manifest": manifest,
        "entries": manifest.entries.all(),
        "meta_form": meta_form,
        "file_form": file_form,
    }
    status = 400 if meta_form.errors or file_form.errors else 200
    return render(request, "sandboxes/manifest_edit.html", context, status=status)


@require_POST
@once_per_form
def manifest_clone(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    copy = manifests.manifest_clone(manifest=manifest, owner=request.user)
    messages.success(request, f"Cloned into “{copy.name}”: yours to edit.")
    return htmx_redirect(request, reverse("manifest_edit", args=[copy.pk]))


@require_POST
def manifest_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = _get_own_manifest(request, pk)
    manifests.manifest_delete(manifest=manifest, owner=request.user)
    messages.success(request, f"Deleted “{manifest.name}”.")
    return htmx_redirect(request, reverse("manifest_list"))


def manifest_export(request: HttpRequest, pk: int) -> HttpResponse:
    manifest = _get_manifest_for_user(request, pk)
    response = HttpResponse(manifests.manifest_zip(manifest), content_type="application/zip")
    filename = slugify(manifest.name) or f"manifest-{manifest.pk}"
    response["Content-Disposition"] = f'attachment; filename="{filename}.zip"'
    return response
