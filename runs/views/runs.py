"""Runs: start one in a session, watch it live, cancel it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from lib.htmx import HtmxHttpRequest, htmx_redirect
from lib.once import once_per_form
from sandboxes.views.sessions import get_session_for_user, render_session_page

from .. import selectors, services
from ..forms import RunForm
from ..models import Run


def _get_run_for_user(request: HttpRequest, pk: int) -> Run:
    return get_object_or_404(selectors.run_detail_queryset(request.user), pk=pk)


@require_POST
@once_per_form
def run_create(request: HtmxHttpRequest, session_pk: int) -> HttpResponse:
    session = get_session_for_user(request, session_pk)
    form = RunForm(request.POST)
    if form.is_valid():
        try:
            run = services.run_start(
                owner=request.user,
                session=session,
                config=form.agent_config(),
                prompt=form.cleaned_data["prompt"],
            )
        except services.RunRefused as error:
            form.add_error(None, str(error))
        else:
            return htmx_redirect(request, run.get_absolute_url())
    if request.htmx:
        return render(
            request, "runs/_run_form.html", {"session": session, "run_form": form}, status=400
        )
    return render_session_page(request, session, run_form=form, status=400)


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    return render(request, "runs/run_detail.html", {"run": run, "session": run.session})


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
