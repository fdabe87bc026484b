"""Versions side by side, and share links to them (the public share page included)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from lib.htmx import HtmxHttpRequest, htmx_redirect, htmx_refuse, htmx_target
from lib.once import once_per_form
from runs import selectors as run_selectors
from runs.event_log import render_event
from runs.forms import AgentForm
from runs.selectors import lane_groups_of, session_latest_run, thread_turns, usage_of
from runs.timeline import run_timeline
from sandboxes import selectors as sandbox_selectors
from sandboxes import workspace
from sandboxes.grants import grant_for_user, preview_entry_url
from sandboxes.models import Preview
from sandboxes.views.screenshots import screenshot_response
from sandboxes.views.workspace import call_workspace

from . import selectors, services, shares, snapshots
from .access import grant_for_share
from .forms import AddVersionForm, ComparisonForm, RefineForm, ShareForm
from .models import Comparison, ShareLink, Version


def _get_comparison_for_user(request: HttpRequest, pk: int) -> Comparison:
    return get_object_or_404(selectors.comparisons_of(request.user), pk=pk)


@once_per_form
def comparison_new(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    manifest = get_object_or_404(sandbox_selectors.manifests_visible_to(request.user), pk=pk)
    form = ComparisonForm(request.POST or None, user=request.user)
    agent_form = AgentForm(request.POST or None, prefix="agent", approvals=False)
    if request.method == "POST":
        if form.is_valid() and agent_form.is_valid():
            try:
                comparison = services.comparison_create(
                    owner=request.user,
                    manifest=manifest,
                    title=form.cleaned_data["title"],
                    config=agent_form.agent_config(),
                    prompts=form.prompts,
                    backend_id=form.cleaned_data["backend"],
                )
            except services.ComparisonRefused as error:
                form.add_error(None, str(error))
            else:
                return htmx_redirect(request, comparison.get_absolute_url())
    context = {"manifest": manifest, "form": form, "agent_form": agent_form}
    return render(
        request, "comparisons/comparison_new.html", context, status=400 if form.errors else 200
    )


def _version_cards(request: HttpRequest, versions) -> list[dict]:
    """What each of the owner's version cards shows: it follows its sandbox's newest turn (a
    refine, or a run started from the session page), while its iframe shows the live app."""
    cards = []
    for version in versions:
        version = services.version_follow_preview(version=version)
        preview = version.preview
        frame_url = None
        if preview is not None and preview.status == Preview.Status.READY:
            grant = grant_for_user(preview, request.user, request.session.session_key)
            frame_url = preview_entry_url(request, preview, grant)
        card = {
            "version": version,
            "run": version.run,
            "frame_url": frame_url,
            "screenshot": sandbox_selectors.session_latest_screenshot(version.session),
        }
        if version.session is not None:
            run = session_latest_run(version.session) or version.run
            turns = list(thread_turns(run.thread)) if run and run.thread_id else []
            card |= {"run": run, "turns": len(turns), "thread_usage": usage_of(turns)}
            card["thread"] = run.thread if turns else None
            card["refine_form"] = RefineForm()
        cards.append(card)
    return cards


# Parts of a version card that ask for themselves while they change (hx-target = their id):
# the frame until the preview is ready (then only Vite's hot reload touches the iframe), the
# facts while the version builds or a turn runs.
CARD_PARTS = {
    "frame": "comparisons/_version_frame.html",
    "facts": "comparisons/_version_facts.html",
}


def _card_part(target: str) -> tuple[str, str] | None:
    """("42", "facts") for "version-42-facts"; None for any other target."""
    name, _, part = target.rpartition("-")
    version_id = name.removeprefix("version-")
    if not name.startswith("version-") or part not in CARD_PARTS or not version_id.isdecimal():
        return None
    return version_id, part


def comparison_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = _get_comparison_for_user(request, pk)
    versions = selectors.comparison_versions(comparison)
    part = None
    if target := htmx_target(request) or "":
        if target.startswith("version-"):
            part = _card_part(target)
            if part is None or not versions.filter(pk=part[0]).exists():
                raise Http404("No such version in this comparison.")
            versions = versions.filter(pk=part[0])
    cards = _version_cards(request, versions)
    focus = request.GET.get("focus")
    context = {
        "comparison": comparison,
        "cards": cards,
        "focus": int(focus) if focus and focus.isdecimal() else None,
        "share_form": ShareForm(),
        "shares": share_links(request, comparison.shares.all()),
        "add_form": AddVersionForm(),
    }
    if part is not None:
        # A polled part also refreshes the card's stage badge (out of band).
        context |= {"card": cards[0], "card_part": True}
        return render(request, CARD_PARTS[part[1]], context)
    return render(request, "comparisons/comparison_detail.html", context)


@require_POST
@once_per_form
def comparison_from_lanes(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Open an agent-led group's lanes (homepage directions) side by side, in one click."""
    group = get_object_or_404(lane_groups_of(request.user), pk=pk)
    try:
        comparison = services.comparison_from_lane_group(owner=request.user, group=group)
    except services.ComparisonRefused as error:
        messages.error(request, str(error))
        return htmx_redirect(request, group.get_absolute_url())
    return htmx_redirect(request, comparison.get_absolute_url())


@require_POST
def comparison_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = _get_comparison_for_user(request, pk)
    title = comparison.title
    comparison.delete()  # its share links go with it; its sandboxes stay under Sandboxes
    messages.success(request, f"“{title}” was deleted with its share links; its sandboxes stay.")
    return redirect("comparison_list")


@require_POST
def version_refine(request: HtmxHttpRequest, pk: int, version_pk: int) -> HttpResponse:
    """ "Refine": a follow-up turn in one version's sandbox; the card follows it. (A second
    submission while the turn runs is refused by run_start: one turn at a time.)"""
    comparison = _get_comparison_for_user(request, pk)
    version = get_object_or_404(
        Version.objects.select_related("comparison", "session", "run", "preview"),
        pk=version_pk,
        comparison=comparison,
    )
    form = RefineForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            services.version_refine(
                version=version, owner=request.user, prompt=form.cleaned_data["prompt"]
            )
            form = RefineForm()
        except services.ComparisonRefused as refused:
            error = str(refused)
    if not request.htmx:
        if error or form.errors:
            messages.error(request, error or "Write what to change in this version.")
        return redirect(comparison.get_absolute_url())
    [card] = _version_cards(request, [version])
    card["refine_form"] = form
    context = {"comparison": comparison, "card": card, "card_part": True, "refine_error": error}
    response = render(request, "comparisons/_version_facts.html", context)
    if error or form.errors:
        return htmx_refuse(response, f"version-{version.pk}-facts")
    return response


@require_POST
@once_per_form
def comparison_add_version(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = _get_comparison_for_user(request, pk)
    form = AddVersionForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                services.version_add(
                    comparison=comparison,
                    label=form.cleaned_data["label"],
                    prompt=form.cleaned_data["prompt"],
                )
        except services.ComparisonRefused as error:
            messages.error(request, str(error))
    else:
        messages.error(request, "Write a prompt for the new version.")
    return htmx_redirect(request, comparison.get_absolute_url())


def comparison_list(request: HttpRequest) -> HttpResponse:
    items = selectors.comparisons_of(request.user).prefetch_related("versions")
    return render(request, "comparisons/comparison_list.html", {"comparisons": items})


def _diff_or_error(function, *sessions) -> dict:
    try:
        return {"changes": call_workspace(function, *sessions)}
    except workspace.WorkspaceError as error:
        return {"error": str(error)}


def version_diff(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Two versions' workspaces side by side: what differs from one to the other, file by file,
    next to each one's changes against the starter."""
    comparison = _get_comparison_for_user(request, pk)
    versions = [v for v in selectors.comparison_versions(comparison) if v.session_id]
    by_id = {str(v.pk): v for v in versions}
    first = by_id.get(request.GET.get("a", "")) or (versions[0] if versions else None)
    second = by_id.get(request.GET.get("b", "")) or next(
        (v for v in versions if v is not first), None
    )
    context = {"comparison": comparison, "versions": versions, "first": first, "second": second}
    if first is not None and second is not None and first != second:
        context |= {
            "between": _diff_or_error(workspace.between, first.session, second.session),
            "first_changes": _diff_or_error(workspace.changes, first.session),
            "second_changes": _diff_or_error(workspace.changes, second.session),
        }
    return render(request, "comparisons/version_diff.html", context)


# --- share links -------------------------------------------------------------------------------


def share_url(request: HttpRequest, share: ShareLink) -> str:
    """The link to hand out. Its token is in the fragment, which browsers never send: no access
    log (daphne's, a proxy's) records it. The page posts it (share_open)."""
    return f"{request.build_absolute_uri(reverse('share_open'))}#{shares.share_token(share)}"


def share_links(request: HttpRequest, links) -> list[dict]:
    """Share links with the URL each one opens and their snapshots, for the owner's panel."""
    return [_snapshot_item(share) | {"url": share_url(request, share)} for share in links]


def _snapshot_item(share: ShareLink) -> dict:
    items = list(selectors.share_snapshots(share))
    building = any(s.status == s.Status.BUILDING for s in items)
    return {"share": share, "snapshots": items, "building": building}


def share_snapshots(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A share's snapshots for its owner (polled while one builds); POST: refresh them all
    from the sandboxes that still run."""
    share = get_object_or_404(selectors.shares_of(request.user), pk=pk)
    notice, refused = "", False
    if request.method == "POST":
        if not share.is_valid:
            notice, refused = "This link is revoked or expired: it keeps no snapshots.", True
        elif snapshots.share_snapshots_start(share=share):
            notice = "Refreshing: the snapshots are rebuilt from the running apps."
        else:
            notice = "No shared sandbox is running: there is nothing to build a snapshot from."
            refused = True
        if not request.htmx:
            (messages.error if refused else messages.success)(request, notice)
            return redirect((share.comparison or share.preview).get_absolute_url())
    context = {"item": _snapshot_item(share), "notice": notice, "refused": refused}
    # 200 even when refused: htmx swaps only successful answers, and the notice says why.
    return render(request, "comparisons/_share_snapshots.html", context)


@require_POST
@once_per_form
def share_create(request: HtmxHttpRequest, kind: str, pk: int) -> HttpResponse:
    if kind == "comparison":
        target = _get_comparison_for_user(request, pk)
        owner_kwargs = {"comparison": target}
    elif kind == "run":
        target = get_object_or_404(run_selectors.runs_of(request.user), pk=pk)
        owner_kwargs = {"run": target}
    elif kind == "thread":
        target = get_object_or_404(run_selectors.threads_of(request.user), pk=pk)
        owner_kwargs = {"thread": target}
    elif kind != "preview":
        raise Http404("Only comparisons, previews, runs and conversations can be shared.")
    else:
        target = get_object_or_404(sandbox_selectors.previews_of(request.user), pk=pk)
        owner_kwargs = {"preview": target}
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            shares.share_create(owner=request.user, expires_in=form.expires_in(), **owner_kwargs)
            messages.success(request, "Share link created: copy it from the list below.")
        except shares.ShareRefused as error:
            messages.error(request, str(error))
    else:
        errors = "; ".join(e for field in form.errors.values() for e in field)
        messages.error(request, f"No link created: {errors}")
    return htmx_redirect(request, _share_return(kind, target))


def _share_return(kind: str, target) -> str:
    """Where the owner goes back to after creating or revoking a link: the page it sits on."""
    if kind == "thread":
        last = thread_turns(target).last()
        return last.get_absolute_url() if last else target.get_absolute_url()
    return target.get_absolute_url()


@require_POST
def share_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    share = get_object_or_404(selectors.shares_of(request.user), pk=pk)
    shares.share_revoke(share=share)
    messages.success(request, "Share link revoked: it no longer opens anything.")
    kind = "thread" if share.thread_id else ""
    return htmx_redirect(request, _share_return(kind, share.target))


def _share_cookie(pk: int) -> str:
    """The cookie holding a share's token once its link was opened (on that share's path)."""
    return f"sd_share_{pk}"


def _share_gone(request: HttpRequest, reason: str = "") -> HttpResponse:
    response = render(request, "comparisons/share_gone.html", {"reason": reason}, status=404)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@login_not_required
def share_open(request: HttpRequest) -> HttpResponse:
    """GET: a page whose script posts the link's fragment (the token) back here. POST: trade
    the token for a cookie on this share's own path, then show the share."""
    if request.method != "POST":
        response = render(request, "comparisons/share_open.html")
        # Not no-referrer: Chromium then sends `Origin: null` with the form, which CSRF
        # refuses. Referers never hold the fragment, and same-origin keeps them here.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response
    token = request.POST.get("token", "")
    share = selectors.share_get_by_token(token)
    if share is None:
        return _share_gone(request)
    response = redirect("share_page", share.pk)
    response.set_cookie(
        _share_cookie(share.pk),
        token,
        max_age=max(int((share.expires_at - timezone.now()).total_seconds()), 0),
        path=reverse("share_page", args=[share.pk]),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


@login_not_required
def share_legacy(request: HttpRequest, token: str) -> HttpResponse:
    """Links made before tokens moved into the fragment: the same link, the new way."""
    return redirect(f"{reverse('share_open')}#{token}")


def _shared_card(request: HttpRequest, share: ShareLink, item, snapshot) -> dict:
    """A public card: its app live while its preview runs, else the share's snapshot of it
    (served on the preview's own origin by the proxy), else offline."""
    preview = item.preview
    live = preview is not None and preview.is_serving
    shown = live or (snapshot is not None and snapshot.has_site)
    kept_shot = snapshot.screenshot if snapshot is not None and not live else None
    shot = kept_shot or selectors.shared_screenshot(share, item)
    return {
        "shared": item,
        "screenshot": shot,
        "screenshot_url": reverse("share_screenshot", args=[share.pk, shot.pk]) if shot else "",
        "mode": ("live" if live else "snapshot") if shown else None,
        "snapshot": snapshot,
        "frame_url": preview_entry_url(request, preview, grant_for_share(preview, share))
        if shown
        else None,
    }


def _share_from_cookie(request: HttpRequest, pk: int) -> tuple[ShareLink | None, str]:
    """The share this browser opened (its cookie on the share's own path), or why not."""
    token = request.COOKIES.get(_share_cookie(pk), "")
    share = selectors.share_get_by_token(token) if token else None
    if share is None or share.pk != pk:
        return None, "" if token else "no-token"
    return share, ""


def _no_store(response: HttpResponse) -> HttpResponse:
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _shared_runs_page(request: HttpRequest, share: ShareLink) -> HttpResponse:
    """A shared run or conversation: each turn's prompt, log, timeline and result, read-only.
    The log is the run's own event fragments, applied in the page as the live page applies
    them; no websocket, no form, no control."""
    turns = [
        {
            "run": run,
            "timeline": run_timeline(run),
            "events": [
                render_event(event, readonly=True) for event in run_selectors.run_events(run)
            ],
        }
        for run in selectors.shared_runs(share)
    ]
    if share.thread_id:
        title = f"A conversation of {len(turns)} turn{'s' if len(turns) != 1 else ''}"
    else:
        title = f"Run #{share.run_id}"
    usage = usage_of([turn["run"] for turn in turns])
    response = render(
        request,
        "comparisons/share_run.html",
        {"share": share, "title": title, "turns": turns, "usage": usage, "readonly": True},
    )
    return _no_store(response)


@login_not_required
def share_preview_open(request: HttpRequest, pk: int, preview_pk: int) -> HttpResponse:
    """A shared preview full size in its own tab, through the share's own grant (made now, so
    the link on the share page never goes stale). Its iframe's cookie belongs to the share
    page's partition: a new tab enters again."""
    share, reason = _share_from_cookie(request, pk)
    if share is None:
        return _share_gone(request, reason)
    shared, _added = selectors.shared_versions(share)
    preview = next(
        (item.preview for item in shared if item.preview and item.preview.pk == preview_pk), None
    )
    kept = {s.preview_id: s for s in selectors.share_snapshots(share)}
    snapshot = kept.get(getattr(preview, "pk", None))
    if preview is None or not (preview.is_serving or (snapshot and snapshot.has_site)):
        raise Http404("This preview is not part of the share, or it is offline.")
    return _no_store(redirect(preview_entry_url(request, preview, grant_for_share(preview, share))))


@login_not_required
def share_page(request: HttpRequest, pk: int) -> HttpResponse:
    share, reason = _share_from_cookie(request, pk)
    if share is None:
        return _share_gone(request, reason)
    if share.run_id or share.thread_id:
        return _shared_runs_page(request, share)

    shared, added = selectors.shared_versions(share)
    kept = {s.preview_id: s for s in selectors.share_snapshots(share)}
    cards = [
        _shared_card(request, share, item, kept.get(getattr(item.preview, "pk", None)))
        for item in shared
    ]
    focus = request.GET.get("focus", "")
    focus = int(focus) if focus.isdecimal() else None
    title = share.comparison.title if share.comparison else share.preview.session.name
    response = render(
        request,
        "comparisons/share_page.html",
        {"share": share, "title": title, "cards": cards, "added": added, "focus": focus},
    )
    return _no_store(response)


@login_not_required
def share_screenshot(request: HttpRequest, pk: int, shot_pk: int) -> HttpResponse:
    """A screenshot of a shared version, for the holder of the share's link (its cookie is on
    this share's path); anything the share does not show: 404."""
    share, _reason = _share_from_cookie(request, pk)
    if share is None:
        raise Http404("No such screenshot.")
    shot = get_object_or_404(selectors.share_screenshots(share), pk=shot_pk)
    response = screenshot_response(shot)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
