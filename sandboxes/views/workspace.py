"""The workspace browser of a session: files, changes against its starter, a zip, a console.

Every view looks the session up for its owner (anyone else gets a 404). Pages are GETs; the
console runs a command on POST and streams its output as plain text.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import aget_object_or_404, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from lib.errors import describe_error
from lib.htmx import HtmxHttpRequest, htmx_target

from .. import workspace
from ..models import SandboxSession
from ..services import SessionNotReady
from .sessions import get_session_for_user

logger = logging.getLogger(__name__)

TABS = (
    ("files", "Files", "workspace_tree"),
    ("changes", "Changes vs starter", "workspace_diff"),
    ("console", "Console", "workspace_console"),
)


class SandboxUnreachable(workspace.WorkspaceError):
    status = 502


def call_workspace(function, *args):
    """Run a workspace service from a sync view; any failure becomes a WorkspaceError."""
    try:
        return async_to_sync(function)(*args)
    except workspace.WorkspaceError:
        raise
    except SessionNotReady as error:
        raise workspace.WorkspaceUnavailable(str(error)) from error
    except Exception as error:
        logger.warning("Workspace call %s failed", function.__name__, exc_info=True)
        raise SandboxUnreachable(
            f"The sandbox could not be reached: {describe_error(error)}"
        ) from error


async def _aget_session_for_user(request: HttpRequest, pk: int) -> SandboxSession:
    user = await request.auser()
    return await aget_object_or_404(
        SandboxSession.objects.select_related("manifest"), pk=pk, owner=user
    )


def _render(
    request: HttpRequest, session: SandboxSession, tab: str, *, status: int = 200, **context
) -> HttpResponse:
    context = {
        "session": session,
        "tab": tab,
        "tabs": TABS,
        "local": session.is_local,
        "console_timeout": workspace.CONSOLE_TIMEOUT,
        "console_limit": workspace.amount(workspace.CONSOLE_OUTPUT_LIMIT),
        "view_limit_kb": workspace.VIEW_LIMIT // 1000,
        **context,
    }
    return render(request, "sandboxes/workspace.html", context, status=status)


def _read(session: SandboxSession, path: str) -> tuple[workspace.FileView | None, str, int]:
    try:
        return call_workspace(workspace.read_file, session, path), "", 200
    except workspace.WorkspaceError as error:
        return None, str(error), error.status


def _files_page(request: HttpRequest, session: SandboxSession, path: str) -> HttpResponse:
    try:
        tree = call_workspace(workspace.tree, session)
    except workspace.WorkspaceError as error:
        return _render(request, session, "files", status=error.status, error=str(error))
    file, file_error, status = _read(session, path) if path else (None, "", 200)
    context = {"tree": tree, "file": file, "file_error": file_error, "path": path}
    return _render(request, session, "files", status=status, **context)


@require_safe
def workspace_tree(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for_user(request, pk)
    return _files_page(request, session, request.GET.get("path", ""))


@require_safe
def workspace_file(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for_user(request, pk)
    path = request.GET.get("path", "")
    if htmx_target(request) != "ws-viewer":
        return _files_page(request, session, path)
    file, file_error, status = _read(session, path)
    context = {"session": session, "file": file, "file_error": file_error, "path": path}
    context["view_limit_kb"] = workspace.VIEW_LIMIT // 1000
    return render(request, "sandboxes/_workspace_file.html", context, status=status)


@require_safe
def workspace_diff(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for_user(request, pk)
    try:
        changes = call_workspace(workspace.changes, session)
    except workspace.WorkspaceError as error:
        return _render(request, session, "changes", status=error.status, error=str(error))
    return _render(request, session, "changes", changes=changes)


@require_GET
async def workspace_zip(request: HttpRequest, pk: int) -> HttpResponse:
    session = await _aget_session_for_user(request, pk)
    try:
        handle = await workspace.zip_file(session)
    except Exception as error:
        if not isinstance(error, workspace.WorkspaceError):
            logger.warning("Zipping session %s failed", session.pk, exc_info=True)
            error = SandboxUnreachable(f"The zip could not be made: {describe_error(error)}")
        return await sync_to_async(_render)(
            request, session, "files", status=error.status, error=str(error)
        )
    size = handle.seek(0, 2)
    handle.seek(0)
    response = StreamingHttpResponse(workspace.file_chunks(handle), content_type="application/zip")
    response["Content-Length"] = str(size)
    filename = slugify(session.name) or f"sandbox-{session.pk}"
    response["Content-Disposition"] = f'attachment; filename="{filename}-workspace.zip"'
    return response


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(f"{message}\n", status=status, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "POST"])
async def workspace_console(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the page with the console. POST: run `command`, streaming its output."""
    session = await _aget_session_for_user(request, pk)
    if request.method == "GET":
        reason = await sync_to_async(workspace.unavailable_reason)(session)
        status = workspace.WorkspaceUnavailable.status if reason else 200
        return await sync_to_async(_render)(
            request, session, "console", status=status, error=reason or ""
        )
    try:
        command = workspace.check_command(request.POST.get("command", ""))
        await workspace.check_available(session)
    except workspace.WorkspaceError as error:
        return _text(str(error), error.status)
    response = StreamingHttpResponse(
        workspace.console(session, command), content_type="text/plain; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the stream back
    response["X-Content-Type-Options"] = "nosniff"
    return response
