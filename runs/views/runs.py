"""Runs: start one in a session (a conversation's next turn), watch it live, approve or reject
what it asks, cancel it; conversations: start a new one."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from comparisons import selectors as share_selectors
from comparisons.forms import ShareForm
from comparisons.views import share_links
from lib.htmx import HtmxHttpRequest, htmx_redirect, htmx_refuse, htmx_target
from lib.once import once_per_form
from sandboxes.selectors import sessions_of
from sandboxes.views.sessions import (
    get_session_for_user,
    render_session_page,
    session_preview_frame,
)

from .. import export, selectors, services
from ..event_log import render_event
from ..forms import RUN_SORTS, FollowUpForm, RunFilterForm, RunForm, RunImportForm
from ..models import Approval, Run, RunImage, Thread
from ..templatetags.run_events import dom_id
from ..timeline import run_timeline


def _get_run_for_user(request: HttpRequest, pk: int) -> Run:
    return get_object_or_404(selectors.run_detail_queryset(request.user), pk=pk)


def _thread_of(request: HttpRequest, session) -> Thread | None:
    """The conversation a form names (one of this session's), or None for the session's newest."""
    value = request.POST.get("thread", "")
    if not value:
        return None
    if not value.isdecimal():
        raise Http404("No such conversation.")
    return get_object_or_404(selectors.session_threads(session), pk=int(value))


@require_POST
@once_per_form
def run_create(request: HtmxHttpRequest, session_pk: int) -> HttpResponse:
    session = get_session_for_user(request, session_pk)
    thread = _thread_of(request, session)
    if "follow_up" in request.POST:
        return _follow_up(request, session, thread)
    form = RunForm(request.POST)
    if form.is_valid():
        try:
            run = services.run_start(
                owner=request.user,
                session=session,
                config=form.agent_config(),
                prompt=form.cleaned_data["prompt"],
                thread=thread,
            )
        except services.RunRefused as error:
            form.add_error(None, str(error))
        else:
            return htmx_redirect(request, run.get_absolute_url())
    if request.htmx:
        context = {"session": session, "run_form": form, "thread": thread}
        return htmx_refuse(render(request, "runs/_run_form.html", context), "run-form")
    return render_session_page(request, session, run_form=form, status=400)


def _follow_up(request: HtmxHttpRequest, session, thread: Thread | None) -> HttpResponse:
    """The next turn of a conversation, same agent as its last turn. From the session page it
    stays there (the conversation is swapped in place, the preview keeps running); from a run
    page it opens the conversation at the new turn."""
    form = FollowUpForm(request.POST)
    last = selectors.thread_turns(thread).last() if thread is not None else None
    if last is None:
        raise Http404("Follow-ups continue a conversation that has a turn.")
    if form.is_valid():
        try:
            run = services.run_start(
                owner=request.user,
                session=session,
                config=form.config(last.config),
                prompt=form.cleaned_data["prompt"],
                thread=thread,
            )
        except services.RunRefused as error:
            form.add_error(None, str(error))
        else:
            if request.POST.get("from") == "run":
                return htmx_redirect(request, f"{thread.get_absolute_url()}#turn-{run.pk}")
            if request.htmx:
                return render_session_page(request, session, thread=thread)
            return redirect(f"{thread.get_absolute_url()}#turn-{run.pk}")
    if request.POST.get("from") == "run":
        for error in form.errors.get("prompt", []) + form.non_field_errors():
            messages.error(request, error)
        return htmx_redirect(request, last.get_absolute_url())
    if request.htmx:
        page = render_session_page(
            request, session, thread=thread, follow_up_form=form, fragment="conversation"
        )
        return htmx_refuse(page, "conversation")
    return render_session_page(request, session, thread=thread, follow_up_form=form, status=400)


@require_POST
@once_per_form
def thread_create(request: HtmxHttpRequest, session_pk: int) -> HttpResponse:
    """ "New conversation": the next turn starts with no history, on the same files."""
    session = get_session_for_user(request, session_pk)
    thread = services.thread_start(owner=request.user, session=session)
    return htmx_redirect(request, thread.get_absolute_url())


RUNS_PER_PAGE = 50


def run_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every run of the user in one table: filters, search, sort, pages. A fixed number of
    queries whatever the number of runs (tests/runs/test_run_list.py counts them)."""
    form = RunFilterForm(
        request.GET or None,
        sessions=sessions_of(request.user).select_related(None).only("pk", "name").order_by("name"),
        **selectors.run_filter_choices(request.user),
    )
    filters = form.cleaned_data if form.is_valid() else {}
    sort = filters.get("sort") or "newest"
    runs = selectors.run_search(request.user, filters=filters, order=RUN_SORTS[sort])
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "sort": sort}
    if htmx_target(request) == "run-table":
        return render(request, "runs/_run_table.html", context)
    return render(request, "runs/run_list.html", context)


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    context = {
        "run": run,
        "session": run.session,
        "timeline": run_timeline(run),
        "live": True,
        "share_form": ShareForm(),
        "shares": share_links(request, share_selectors.shares_of(request.user).filter(run=run)),
    }
    if run.thread_id is not None:
        last = selectors.thread_turns(run.thread).last()
        context |= {
            "thread": run.thread,
            "is_last_turn": last is not None and last.pk == run.pk,
            "turns": run.thread.runs.count(),
            "follow_up_form": FollowUpForm(initial={"approvals": run.config.get("approvals", [])}),
            "thread_shares": share_links(
                request, share_selectors.shares_of(request.user).filter(thread=run.thread)
            ),
        }
    if run.session is not None:
        context["preview"] = session_preview_frame(request, run.session)["preview"]
    if htmx_target(request) == "run-follow-up":
        return render(request, "runs/_run_follow_up.html", context)
    return render(request, "runs/run_detail.html", context)


def run_timeline_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's timeline alone: the run page swaps it in as the run streams."""
    run = _get_run_for_user(request, pk)
    context = {"run": run, "timeline": run_timeline(run), "live": True}
    return render(request, "runs/_timeline_body.html", context)


def _download(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        (chunk.encode() async for chunk in chunks), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


async def run_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The run as JSON (config, prompt, every event, usage, cost, timings; no secret), streamed."""
    user = await request.auser()
    run = await aget_object_or_404(Run, pk=pk, owner=user)
    return _download(export.run_export(run), f"run-{run.pk}.json")


async def thread_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """A whole conversation: each of its turns as a run export, in order."""
    user = await request.auser()
    thread = await aget_object_or_404(Thread, pk=pk, owner=user)
    runs = [run async for run in selectors.thread_turns(thread)]
    return _download(export.thread_export(thread, runs), f"conversation-{thread.pk}.json")


@once_per_form
def run_import(request: HtmxHttpRequest) -> HttpResponse:
    """Upload an export: it becomes a read-only run (a conversation: one per turn)."""
    form = RunImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > export.IMPORT_LIMIT_BYTES:
            form.add_error("file", f"The file is over {export.IMPORT_LIMIT_BYTES // 2**20} MB.")
        else:
            try:
                runs = export.runs_import(owner=request.user, data=upload.read())
            except export.ImportRefused as error:
                form.add_error("file", str(error))
            else:
                if len(runs) > 1:
                    messages.success(request, f"Imported {len(runs)} runs (one per turn).")
                return redirect(runs[0].get_absolute_url())
    status = 400 if form.errors else 200
    return render(request, "runs/run_import.html", {"form": form}, status=status)


def run_replay(request: HttpRequest, pk: int) -> JsonResponse:
    """A finished run's log for the page's replay: each event with its time and its fragment."""
    run = _get_run_for_user(request, pk)
    if run.is_active:
        return JsonResponse({"error": "The run is still going: watch it live."}, status=409)
    events = [
        {
            "seq": event.seq,
            "kind": event.kind,
            "at": event.created_at.timestamp() * 1000,
            "html": render_event(event),
        }
        for event in selectors.run_events(run).iterator(chunk_size=1000)
    ]
    return JsonResponse({"events": events})


def run_result_json(request: HttpRequest, pk: int) -> HttpResponse:
    """A run's structured result (declared by its output schema) as a JSON download."""
    run = _get_run_for_user(request, pk)
    if run.structured_output is None:
        raise Http404("This run has no structured result.")
    response = JsonResponse(
        run.structured_output, safe=False, json_dumps_params={"indent": 2, "ensure_ascii": False}
    )
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-result.json"'
    return response


@require_POST
def run_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    back = run.session.get_absolute_url() if run.session else reverse("home")
    if run.is_active:
        messages.error(request, "This run is still active: cancel it first, then delete it.")
        return htmx_redirect(request, run.get_absolute_url())
    run.delete()
    messages.success(request, f"Run #{pk} was deleted with its log.")
    return htmx_redirect(request, back)


@require_POST
async def run_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Async so the cancel's event is broadcast from the server's own loop.
    user = await request.auser()
    run = await aget_object_or_404(Run, pk=pk, owner=user)
    if run.is_active:
        await services.run_cancel(run=run)
    if request.htmx:
        return HttpResponse(status=204)
    return redirect(run.get_absolute_url())


DECISIONS = {
    "approve": (True, False),
    "approve_all": (True, True),
    "reject": (False, False),
}


@require_POST
async def approval_decide(request: HtmxHttpRequest, pk: int, approval_pk: int) -> HttpResponse:
    """Approve or reject a call a paused run waits on; the decision is an event in its log, and
    reaches every open page over the websocket."""
    user = await request.auser()
    approval = await aget_object_or_404(
        Approval.objects.select_related("run"), pk=approval_pk, run__pk=pk, run__owner=user
    )
    choice = request.POST.get("decision", "")
    if choice not in DECISIONS:
        error = "Choose approve, approve all of this kind, or reject."
    else:
        approve, always = DECISIONS[choice]
        try:
            await services.approval_decide(
                approval=approval,
                user=user,
                approve=approve,
                always=always,
                reason=request.POST.get("reason", ""),
            )
            error = ""
        except services.ApprovalRefused as refused:
            error = str(refused)
        await approval.arefresh_from_db()
    if not request.htmx:
        if error:
            await sync_to_async(messages.error)(request, error)
        return redirect(approval.run.get_absolute_url())
    by = user.get_username() if approval.decided_by_id else ""
    context = {
        "run_id": pk,
        "payload": approval.decision_payload(by=by),
        "error": error,
        "standalone": True,
    }
    if approval.decision == Approval.Decision.PENDING:
        # Nothing recorded (a bad choice): the buttons stay, with the reason above them.
        pending = await sync_to_async(render)(request, "runs/_approval_pending.html", context)
        return htmx_refuse(pending, f"{dom_id(pk, approval.call_id)}-approval")
    return await sync_to_async(render)(request, "runs/_approval_decided.html", context)


def run_image(request: HttpRequest, pk: int) -> FileResponse:
    """An image a tool returned in a run, for the run's owner only (anyone else: 404). Served
    in a sandbox with no scripts: an SVG opened on its own cannot run code on this origin."""
    image = get_object_or_404(RunImage.objects.filter(run__owner=request.user), pk=pk)
    response = FileResponse(image.image.open("rb"), content_type=image.media_type)
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
