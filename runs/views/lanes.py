"""Lane groups (parallel lanes and a coordinator) and the presets that launch them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from lib.htmx import HtmxHttpRequest, htmx_redirect, htmx_target
from lib.once import once_per_form
from sandboxes import selectors as sandbox_selectors

from .. import lanes, selectors
from .. import presets as preset_library
from ..forms import CodeReviewForm, DeepResearchForm, HomepageForm, LaneGroupForm
from ..models import LaneGroup


def _get_group_for_user(request: HttpRequest, pk: int) -> LaneGroup:
    return get_object_or_404(selectors.lane_groups_of(request.user), pk=pk)


def lane_group_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    group = _get_group_for_user(request, pk)
    runs = selectors.lane_group_runs(group)
    tool_lanes = selectors.lane_group_lanes(group)
    target = htmx_target(request) or ""
    if target.startswith("lane-") and target.endswith("-preview"):
        lane = next((lane for lane in tool_lanes if f"lane-{lane.pk}-preview" == target), None)
        if lane is None:
            raise Http404("No such lane in this group.")
        return render(request, "runs/_lane_preview.html", {"group": group, "lane": lane})
    coordinator = next((r for r in runs if r.is_coordinator), None)
    # The page arrives with the coordinator's log folded (its socket resumes after it): the
    # lane calls its events appended to the lanes' columns come with it.
    coordinator_log = selectors.run_log(coordinator) if coordinator else None
    elsewhere = coordinator_log.elsewhere if coordinator_log else {}
    for lane in tool_lanes:
        lane.calls_html = elsewhere.get(f"lane-{lane.pk}-calls", "")
    context = {
        "group": group,
        "lanes": [r for r in runs if not r.is_coordinator and r.lane_id is None],
        "tool_lanes": tool_lanes,
        "coordinator": coordinator,
        "coordinator_log": coordinator_log,
        "group_usage": selectors.usage_of(runs),
        "group_active": any(r.is_active for r in runs),
    }
    return render(request, "runs/lane_group_detail.html", context)


@require_POST
async def lane_group_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    group = await aget_object_or_404(LaneGroup, pk=pk, owner=user)
    await lanes.lane_group_cancel(group=group)
    return redirect(group.get_absolute_url())


@require_POST
def lane_group_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    group = _get_group_for_user(request, pk)
    if group.runs.active().exists():
        messages.error(request, "Lanes are still running: cancel them first, then delete.")
        return redirect(group.get_absolute_url())
    title = group.title
    group.delete()
    messages.success(request, f"“{title}” was deleted with its runs; the lanes' sandboxes stay.")
    return redirect("presets")


@once_per_form
def lane_group_new(request: HtmxHttpRequest) -> HttpResponse:
    form = LaneGroupForm(
        request.POST or None,
        owner=request.user,
        manifests=sandbox_selectors.manifests_visible_to(request.user),
        sessions=sandbox_selectors.running_sessions_of(request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        specs = [
            lanes.LaneSpec(
                label=data[f"label_{i}"] or f"Lane {i}",
                config=data[f"agent_{i}"].frozen(),
                prompt=data[f"prompt_{i}"],
                manifest=data[f"manifest_{i}"],
                session=data[f"session_{i}"],
            )
            for i in form.lanes
        ]
        try:
            group = lanes.lane_group_create(
                owner=request.user,
                title=data["title"],
                task=data["task"],
                lanes=specs,
                coordinator=data["coordinator"].frozen(),
                mode=data["mode"],
            )
        except lanes.LaneGroupRefused as error:
            form.add_error(None, str(error))
        else:
            return htmx_redirect(request, group.get_absolute_url())
    has_agents = selectors.agent_configs_of(request.user).exists()
    return render(
        request,
        "runs/lane_group_new.html",
        {"form": form, "has_agents": has_agents},
        status=400 if form.errors else 200,
    )


@once_per_form
def presets(request: HtmxHttpRequest) -> HttpResponse:
    review_form = CodeReviewForm(prefix="review")
    homepage_form = HomepageForm(prefix="homepage")
    research_form = DeepResearchForm(prefix="research")
    if request.method == "POST" and request.POST.get("preset") == "code-review":
        review_form = CodeReviewForm(request.POST, prefix="review")
        if review_form.is_valid():
            data = review_form.cleaned_data
            group = preset_library.launch_code_review(
                owner=request.user, model=data["model"], mode=data["mode"]
            )
            return htmx_redirect(request, group.get_absolute_url())
    elif request.method == "POST" and request.POST.get("preset") == "homepage":
        homepage_form = HomepageForm(request.POST, prefix="homepage")
        if homepage_form.is_valid():
            data = homepage_form.cleaned_data
            try:
                group = preset_library.launch_homepage_directions(
                    owner=request.user,
                    model=data["model"],
                    brief=data["brief"],
                    directions=data["directions"],
                    mode=data["mode"],
                )
            except lanes.LaneGroupRefused as error:
                homepage_form.add_error(None, str(error))
            else:
                return htmx_redirect(request, group.get_absolute_url())
    elif request.method == "POST" and request.POST.get("preset") == "deep-research":
        research_form = DeepResearchForm(request.POST, prefix="research")
        if research_form.is_valid():
            data = research_form.cleaned_data
            try:
                launched = preset_library.launch_deep_research(
                    owner=request.user,
                    model=data["model"],
                    question=data["question"],
                    angles=data["angles"],
                    mcp_url=data["mcp_url"],
                    mcp_headers=data["mcp_headers"],
                    e2b_settings=research_form.e2b_settings() if settings.E2B_API_KEY_SET else None,
                    builtin_docs=data["builtin_docs"],
                )
            except lanes.LaneGroupRefused as error:
                research_form.add_error(None, str(error))
            else:
                return htmx_redirect(request, launched.get_absolute_url())
    groups = selectors.lane_groups_of(request.user)[:10]
    context = {
        "review_form": review_form,
        "homepage_form": homepage_form,
        "research_form": research_form,
        "groups": groups,
    }
    forms = (review_form, homepage_form, research_form)
    status = 400 if any(form.errors for form in forms) else 200
    return render(request, "runs/presets.html", context, status=status)
